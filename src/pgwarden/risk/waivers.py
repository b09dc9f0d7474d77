"""Which findings a reasoned ``risk.ignore`` entry waives, for findings built outside the engine's statement loop.

The engine waives statement findings itself (inline directives and ``risk.ignore``); the plan step
and the PR comment build the rehearsal's findings afterwards and apply the same rule here: an entry
waives a finding of its ``rule`` (in its ``migration``, or in any when it names none) only with a
``reason``; a bare ignore waives nothing (ignore-without-reason reports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pgwarden.config import IgnoreEntry
from pgwarden.records import Finding


def waiver_reason(finding: Finding, ignores: Sequence[IgnoreEntry]) -> str | None:
    """The reason of the first ``risk.ignore`` entry that waives ``finding``, or None."""
    for entry in ignores:
        if entry.rule == finding.rule and entry.reason and entry.migration in (None, finding.migration):
            return entry.reason
    return None


def apply_ignores(findings: Sequence[Finding], ignores: Sequence[IgnoreEntry]) -> tuple[list[Finding], list[Finding]]:
    """(the findings no entry waives, the waived ones with their ``waived_reason``)."""
    kept: list[Finding] = []
    waived: list[Finding] = []
    for finding in findings:
        reason = waiver_reason(finding, ignores)
        if reason is None:
            kept.append(finding)
        else:
            waived.append(replace(finding, waived_reason=reason))
    return kept, waived
