"""``plan --format text``: the report for a terminal."""

from __future__ import annotations

import textwrap

from pgwarden.records import Finding, PlanReport
from pgwarden.report.findings import by_severity, context_facts, verdict, where

_WIDTH = 100


def render_text(report: PlanReport) -> str:
    lines: list[str] = []
    pending = report.pending
    source = f"live context from {report.database}" if report.database else "static (no database)"
    lines.append(f"pgwarden plan: {len(pending)} pending migration(s), tool {report.tool}, {source}")
    for migration in report.migrations:
        lines.append(f"  {migration.status.value:<8} {migration.name}  ({migration.path})")
    for note in report.notes:
        lines.append("")
        lines += textwrap.wrap(note, _WIDTH)
    lines.append("")
    for finding in by_severity(report.findings):
        lines += _finding(finding)
        lines.append("")
    summary = ", ".join(f"{n} {sev}" for sev, n in report.counts().items()) or "no findings"
    lines.append(f"summary: {summary}")
    lines.append(verdict(report))
    return "\n".join(lines)


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
