"""``plan --format markdown``: the risk report for a PR comment and the step summary.

Layout: a verdict line, the pending migrations, a table of findings per migration, each
finding's statement and safe alternative collapsed in ``<details>``, then the runbook
checklists with what pgwarden did ticked. GitHub refuses comments over 65,536 characters, so
:func:`render_markdown` keeps the verdict and tables and drops the lowest findings first,
saying how many it left out and where the full report is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pgwarden.records import SEVERITY_NAMES, Finding, Migration, PlanReport, Severity, StepResult
from pgwarden.report.checklist import render_checklists
from pgwarden.report.findings import by_severity, context_facts, group_by_migration, keep_highest, verdict, where
from pgwarden.report.format import SEVERITY_ICON, cell, check_icon, clip, code, fenced, html

#: GitHub's limit for an issue or PR comment body.
COMMENT_LIMIT = 65_536
_MAX_STATEMENT = 1_500
_MAX_TEXT = 1_000
_STATUS_ICON = {"pending": "⏳", "failed": "❌", "edited": "✏️", "applied": "✅"}


def render_markdown(
    report: PlanReport,
    *,
    limit: int = COMMENT_LIMIT,
    full_report: str | None = None,
    checklist_done: Mapping[str, str] | None = None,
    title: str = "pgwarden plan",
) -> str:
    """The report as GitHub-flavoured markdown, at most ``limit`` characters.

    ``full_report`` says where the untruncated report is (an artifact name, a path, a URL);
    ``checklist_done`` overrides what is ticked (default: the review, which plan just did).
    """
    done = dict(checklist_done) if checklist_done is not None else plan_checklist(report)
    ranked = by_severity(report.findings)
    document = _render(report, ranked, len(ranked), full_report, done, title)
    if len(document) <= limit:
        return document
    # Keep the k highest findings, for the largest k that fits.
    low, high = 0, len(ranked) - 1
    best = _render(report, ranked, 0, full_report, done, title)
    while low <= high:
        mid = (low + high) // 2
        candidate = _render(report, ranked, mid, full_report, done, title)
        if len(candidate) <= limit:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    if len(best) > limit:
        # Even the skeleton is too long (thousands of migrations): cut it, keeping the verdict.
        tail = _truncation_note(len(ranked), 0, full_report)
        best = best[: limit - len(tail) - 2] + "\n\n" + tail
    return best


def plan_checklist(report: PlanReport) -> dict[str, str]:
    """What ``plan`` itself did, for the runbook checklist."""
    n = len(report.pending)
    found = f"{len(report.findings)} finding(s)" if report.findings else "no findings"
    source = "with live table sizes" if report.live else "statically"
    return {"review": f"pgwarden reviewed {n} pending migration(s) {source}: {found}"}


def _render(
    report: PlanReport,
    ranked: list[Finding],
    keep: int,
    full_report: str | None,
    done: Mapping[str, str],
    title: str,
) -> str:
    icon = "⛔" if report.blocked else ("⚠️" if report.findings else "✅")
    lines = [
        f"## {icon} {title}: "
        + verdict(report),
        "",
    ]
    counts = " · ".join(f"{SEVERITY_ICON[f_sev]} {n} {f_sev.value}" for f_sev, n in _counts(report))
    source = f"live context from {code(report.database)}" if report.database else "static review (no database URL)"
    lines.append(" · ".join(p for p in (counts, f"tool {code(report.tool)}", source) if p))
    lines.append("")
    if keep < len(ranked):
        lines += [_truncation_note(len(ranked), keep, full_report), ""]
    for note in report.notes:
        lines += [f"> {note}", ""]
    if report.migrations:
        lines += ["| | Migration | Findings |", "|---|---|---|"]
        for migration in report.migrations:
            mine = [f for f in report.findings if f.migration == migration.name]
            summary = ", ".join(f"{n} {sev}" for sev, n in _severity_counts(mine)) or "—"
            status = _STATUS_ICON.get(migration.status.value, "")
            lines.append(
                f"| {status} {migration.status.value} | {code(migration.name, in_table=True)}"
                f"<br><sub>{cell(migration.path)}</sub> | {summary} |"
            )
        lines.append("")
    kept_findings = keep_highest(report.findings, keep)
    if kept_findings:
        lines += ["### Findings", "", *findings_markdown(report.migrations, kept_findings)]
    lines.append(render_checklists(done))
    return "\n".join(lines).rstrip() + "\n"


def findings_markdown(migrations: Sequence[Migration], findings: list[Finding]) -> list[str]:
    """Findings per migration in apply order: a table, then each one's statement and safe alternative.

    The plan report and the PR comment both render findings with this.
    """
    lines: list[str] = []
    for name, group in group_by_migration(list(migrations), findings):
        lines += [f"#### {code(name) if name else 'Configuration'}", ""]
        lines += ["| Severity | Rule | Where | Table | Finding |", "|---|---|---|---|---|"]
        for finding in group:
            lines.append(
                f"| {SEVERITY_ICON[finding.severity]} {finding.severity.value} | {code(finding.rule, in_table=True)} "
                f"| {cell(where(finding))} | {cell(finding.table or '')} | {cell(finding.message, _MAX_TEXT)} |"
            )
        lines.append("")
        for finding in group:
            lines += _details(finding)
    return lines


def _details(finding: Finding) -> list[str]:
    summary = (
        f"{SEVERITY_ICON[finding.severity]} <code>{html(finding.rule)}</code> at {html(where(finding))}: "
        "safe alternative"
    )
    lines = [f"<details><summary>{summary}</summary>", ""]
    if finding.statement:
        lines += [*fenced(clip(finding.statement, _MAX_STATEMENT), "sql"), ""]
    lines += [clip(finding.suggestion, _MAX_TEXT * 2), ""]
    facts = context_facts(finding)
    if facts:
        lines += ["Context: " + html(clip(", ".join(facts), _MAX_TEXT)), ""]
    logs = finding.context.get("logs")
    if logs:
        lines += [*fenced(clip(str(logs), _MAX_TEXT), "text"), ""]
    lines += ["</details>", ""]
    return lines


def _truncation_note(total: int, kept: int, full_report: str | None) -> str:
    location = full_report or "`pgwarden plan --format markdown --output plan.md` (or the run's plan artifact)"
    return (
        f"> [!NOTE]\n> This report is too long for a GitHub comment: it shows the {kept} highest of {total} "
        f"findings. The full report is in {location}."
    )


def _counts(report: PlanReport) -> list[tuple[Severity, int]]:
    return [(Severity(name), n) for name, n in report.counts().items()]


def _severity_counts(findings: list[Finding]) -> list[tuple[str, int]]:
    result = []
    for name in reversed(SEVERITY_NAMES):
        n = sum(1 for f in findings if f.severity.value == name)
        if n:
            result.append((name, n))
    return result


#: The name the demo and other steps use for the plan's markdown report.
render_plan_markdown = render_markdown


def render_checks_markdown(result: StepResult) -> str:
    """A step's checks as a Markdown table (``verify --format markdown``), escaped like every table here."""
    lines = [f"### pgwarden {result.step}: {'passed' if result.ok else 'failed'}", "", cell(result.summary), "",
             "| | check | detail |", "|---|---|---|"]
    for c in result.checks:
        lines.append(f"| {check_icon(c.ok, c.warning)} | {cell(c.name)} | {cell(c.detail)} |")
    return "\n".join(lines) + "\n"
