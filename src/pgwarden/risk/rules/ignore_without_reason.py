"""ignore-without-reason: a `pgwarden:ignore` without a reason (or a rule) is not applied.

Not a check on a parsed statement: the engine hands over the ignore directives written on a
statement (:func:`directive_findings`) and the ``risk.ignore`` entries of pgwarden.yml
(:func:`config_findings`). The engine applies only ignores that name a rule and give a reason,
so a bare ignore never silences ``--fail-on`` without leaving a trace a reviewer can judge.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgwarden.config import IgnoreEntry
from pgwarden.records import Category, Finding, Severity
from pgwarden.risk.parse import Directive

ID = "ignore-without-reason"
CATEGORY = Category.OTHER
SEVERITY = Severity.LOW
SUGGESTION = "Write it as `-- pgwarden:ignore <rule-id> <why this is safe here>`."
CONFIG_SUGGESTION = "Add `reason:` to the entry in pgwarden.yml saying why the risk is accepted."


def directive_findings(directives: Sequence[Directive], *, migration: str, file: str,
                       statement: str) -> list[Finding]:
    """One finding per directive on ``statement`` that names no rule or gives no reason."""
    result = []
    for directive in directives:
        if directive.reason and directive.rule:
            continue
        result.append(Finding(
            rule=ID, category=CATEGORY, severity=SEVERITY,
            message=(f"`pgwarden:ignore {directive.rule or '<rule-id>'}` has no reason, so it is not applied"
                     if directive.rule else "`pgwarden:ignore` names no rule, so it is not applied"),
            suggestion=SUGGESTION,
            migration=migration, file=file, line=directive.line, statement=statement,
        ))
    return result


def config_findings(ignores: Sequence[IgnoreEntry]) -> list[Finding]:
    """One finding per ``risk.ignore`` entry of the config that gives no reason."""
    return [
        Finding(
            rule=ID, category=CATEGORY, severity=SEVERITY,
            message=f"risk.ignore entry for {entry.rule} has no reason, so it is not applied",
            suggestion=CONFIG_SUGGESTION,
            migration=entry.migration,
        )
        for entry in ignores
        if not entry.reason
    ]
