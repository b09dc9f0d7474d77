"""``plan --format markdown``: the risk report for a PR comment and the step summary.

Layout: a verdict line, the pending migrations, a table of findings per migration, each
finding's statement and safe alternative collapsed in ``<details>``, then the runbook
checklists with what pgwarden did ticked. GitHub refuses comments over 65,536 characters, so
:func:`render_markdown` keeps the verdict and tables and drops the lowest findings first,
saying how many it left out and where the full report is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pgwarden.records import SEVERITY_NAMES, Finding, PlanReport, Severity
from pgwarden.report.checklist import render_checklists
from pgwarden.report.findings import SEVERITY_ICON, by_severity, group_by_migration, line_in_file, verdict

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
    kept = ranked[:keep]
    kept_ids = {id(f) for f in kept}
    icon = "⛔" if report.blocked else ("⚠️" if report.findings else "✅")
    lines = [
        f"## {icon} {title}: "
        + verdict(report),
        "",
    ]
    counts = " · ".join(f"{SEVERITY_ICON[f_sev]} {n} {f_sev.value}" for f_sev, n in _counts(report))
    source = f"live context from `{report.database}`" if report.database else "static review (no database URL)"
    lines.append(" · ".join(p for p in (counts, f"tool `{report.tool}`", source) if p))
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
                f"| {status} {migration.status.value} | `{_cell(migration.name)}`<br><sub>{_cell(migration.path)}</sub>"
                f" | {summary} |"
            )
        lines.append("")
    groups = group_by_migration(report.migrations, [f for f in report.findings if id(f) in kept_ids])
    if groups:
        lines += ["### Findings", ""]
    for name, findings in groups:
        lines += [f"#### {('`' + _cell(name) + '`') if name else 'Configuration'}", ""]
        lines += ["| Severity | Rule | Where | Table | Finding |", "|---|---|---|---|---|"]
        for finding in findings:
            lines.append(
                f"| {SEVERITY_ICON[finding.severity]} {finding.severity.value} | `{finding.rule}` "
                f"| {_cell(_where(finding))} | {_cell(finding.table or '')} "
                f"| {_cell(_clip(finding.message, _MAX_TEXT))} |"
            )
        lines.append("")
        for finding in findings:
            lines += _details(finding)
    lines.append(render_checklists(done))
    return "\n".join(lines).rstrip() + "\n"


def _details(finding: Finding) -> list[str]:
    summary = (
        f"{SEVERITY_ICON[finding.severity]} <code>{finding.rule}</code> at {_html(_where(finding))}: safe alternative"
    )
    lines = [f"<details><summary>{summary}</summary>", ""]
    if finding.statement:
        statement = _clip(finding.statement, _MAX_STATEMENT)
        fence = "`" * max(3, _longest_backtick_run(statement) + 1)
        lines += [f"{fence}sql", statement, fence, ""]
    lines += [_clip(finding.suggestion, _MAX_TEXT * 2), ""]
    facts = [f"`{k}`: {_clip(str(v), 300)}" for k, v in finding.context.items() if k != "logs" and v not in (None, "")]
    if facts:
        lines += ["Context: " + ", ".join(_cell(f) for f in facts), ""]
    logs = finding.context.get("logs")
    if logs:
        lines += ["```text", _clip(str(logs), 1_000).replace("```", "'''"), "```", ""]
    lines += ["</details>", ""]
    return lines


def _truncation_note(total: int, kept: int, full_report: str | None) -> str:
    where = full_report or "`pgwarden plan --format markdown --output plan.md` (or the run's plan artifact)"
    return (
        f"> [!NOTE]\n> This report is too long for a GitHub comment: it shows the {kept} highest of {total} "
        f"findings. The full report is in {where}."
    )


def _where(finding: Finding) -> str:
    file = finding.file or "pgwarden.yml"
    line = line_in_file(finding)
    if line is not None:
        return f"{file}:{line}"
    if finding.line is not None:
        return f"{file} (SQL line {finding.line})"
    return file


def _counts(report: PlanReport) -> list[tuple[Severity, int]]:
    return [(Severity(name), n) for name, n in report.counts().items()]


def _severity_counts(findings: list[Finding]) -> list[tuple[str, int]]:
    result = []
    for name in reversed(SEVERITY_NAMES):
        n = sum(1 for f in findings if f.severity.value == name)
        if n:
            result.append((name, n))
    return result


def _cell(text: str) -> str:
    """Safe inside a table cell: no pipes, no newlines, no raw HTML."""
    return _html(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _longest_backtick_run(text: str) -> int:
    return max((len(m.group(0)) for m in re.finditer(r"`+", text)), default=0)


#: The name the demo and other steps use for the plan's markdown report.
render_plan_markdown = render_markdown
