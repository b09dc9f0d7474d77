"""Several findings on one statement, said once: the highest severity leads, the others are detail.

A Prisma ``ALTER TABLE`` that adds, retypes and drops columns can trip up to nine rules at once;
reported one by one they read as nine problems where a reviewer has one statement to rethink.
:func:`merge_statement` keeps the first finding of the highest severity and folds the others into
it: their rule ids, severities and messages are appended to its message ("Also on this
statement: ..."), their distinct safe alternatives to its suggestion, and the whole list is in
``context["merged"]`` (``context["also"]`` names the rule ids, for renderers that show scalars).
Waivers are applied before merging, so a reasoned ignore of any one rule still takes it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pgwarden.records import Finding


def merge_statement(findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` of one statement as one finding (or none); a single finding comes back as is."""
    if len(findings) < 2:
        return list(findings)
    lead = max(findings, key=lambda f: f.severity)  # max() keeps the first of equals: rule order
    others = [f for f in findings if f is not lead]
    details = "; ".join(f"{f.rule} ({f.severity.value}): {f.message.rstrip('.')}" for f in others)
    suggestions = [lead.suggestion]
    for f in others:
        if f.suggestion and f.suggestion not in suggestions:
            suggestions.append(f"For {f.rule}: {f.suggestion}")
    merged: list[dict[str, Any]] = [
        {"rule": f.rule, "severity": f.severity.value, "category": f.category.value, "table": f.table,
         "message": f.message, "suggestion": f.suggestion}
        for f in others
    ]
    context = {**lead.context, "also": ", ".join(dict.fromkeys(f.rule for f in others)), "merged": merged}
    for f in others:  # live facts of a folded finding (its table's size) stay visible
        for key, value in f.context.items():
            context.setdefault(key, value)
    return [replace(
        lead,
        message=f"{lead.message.rstrip('.')}. Also on this statement: {details}.",
        suggestion=" ".join(s for s in suggestions if s),
        table=lead.table or next((f.table for f in others if f.table), None),
        context=context,
    )]


def rules_of(finding: Finding) -> list[str]:
    """Every rule id a (possibly merged) finding stands for, the leading one first."""
    return [finding.rule, *(str(m["rule"]) for m in finding.context.get("merged", ()))]
