"""``plan --format text``: the report for a terminal."""

from __future__ import annotations

import textwrap

from pgwarden.records import Finding, PlanReport
from pgwarden.report.findings import by_severity, context_facts, verdict, where
from pgwarden.report.rehearsal import plan_text

_WIDTH = 100


def render_text(report: PlanReport) -> str:
    lines: list[str] = []
    pending = report.pending
    lines.append(f"pgwarden plan: {len(pending)} pending migration(s), tool {report.tool}, {_basis(report)}")
    for migration in report.migrations:
        lines.append(f"  {migration.status.value:<8} {migration.name}  ({migration.path})")
    for note in report.notes:
        if note.startswith("No database URL:"):  # the basis line says it
            continue
        lines.append("")
        lines += textwrap.wrap(note, _WIDTH)
    rehearsal = plan_text(report)
    if rehearsal:
        lines += ["", *rehearsal]
    lines.append("")
    for finding in by_severity(report.findings):
        lines += _finding(finding)
        lines.append("")
    summary = ", ".join(f"{n} {sev}" for sev, n in report.counts().items()) or "no findings"
    lines.append(f"summary: {summary}")
    lines.append(verdict(report))
    return "\n".join(lines)


def _basis(report: PlanReport) -> str:
    """Whether the review used live data, plainly (the PR comment says it the same way)."""
    if report.basis == "live":
        return f"live context from {report.database}"
    if report.basis == "diff":
        return (f"NO LIVE DATA: pending = the migrations added or changed vs {report.base}; tables created earlier "
                "are assumed to exist with unknown size (pass --database-url, a read-only role, for sizes)")
    return ("NO LIVE DATA, no --base: every migration is treated as pending and its tables as new "
            "(pass --database-url, a read-only role, or --base REF)")


def _finding(finding: Finding) -> list[str]:
    head = f"{finding.severity.value.upper():<8} {finding.rule} [{finding.category.value}]  {where(finding)}"
    lines = [head]
    lines += textwrap.wrap(finding.message, _WIDTH, initial_indent="  ", subsequent_indent="  ")
    if finding.statement:
        statement = finding.statement if len(finding.statement) <= 300 else finding.statement[:297] + "..."
        lines += ["  > " + line for line in statement.splitlines()]
    facts = context_facts(finding)
    if facts:
        lines.append("  context: " + ", ".join(facts))
    lines += textwrap.wrap("fix: " + finding.suggestion, _WIDTH, initial_indent="  ", subsequent_indent="       ")
    return lines
