"""The plan in markdown: ``plan --format markdown``, the plan step's summary and the PR comment's review.

One formatter (:func:`plan_body`) for all three: the basis (did the review see live data?), then
each migration in apply order with its SQL collapsed and its findings in a table of four columns
(severity, the rule linked to its page, where, what) that fits GitHub's ~880 px comment column;
each finding's statement and fix are collapsed below the table. Findings a ``risk.ignore`` entry
waived with a reason stay in the table, marked waived with the reason. With live data, the sizes
of the tables the findings touch follow. GitHub refuses comments over 65,536 characters, so
:func:`render_markdown` shortens the SQL first, then drops the lowest findings, saying how many
it left out and where the full report is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pgwarden.records import SEVERITY_NAMES, Finding, Migration, MigrationStatus, PlanReport, Severity, StepResult
from pgwarden.report.findings import (
    context_facts,
    group_by_migration,
    keep_highest,
    table_sizes,
    verdict,
    where,
    where_in_migration,
)
from pgwarden.report.format import (
    SEVERITY_ICON,
    cell,
    check_icon,
    clip,
    code,
    details,
    docs_url,
    fenced,
    html,
    rule_link,
)
from pgwarden.report.rehearsal import plan_markdown
from pgwarden.units import format_bytes

#: GitHub's limit for an issue or PR comment body.
COMMENT_LIMIT = 65_536
#: The secret the workflows read for the plan's read-only database URL.
PLAN_SECRET = "PLAN_DATABASE_URL"  # noqa: S105 (a secret's name, not its value)
LIVE_DATA_DOCS = docs_url("github-actions.md", "live-data-for-the-review")
#: SQL shown per migration; the comment shortens it (then drops it) before it drops findings.
SQL_CHARS = (4_000, 1_000, 0)
#: Migrations without findings shown with a block of their own; past this, one line names them.
LISTED_MIGRATIONS = 40
_MAX_STATEMENT = 1_500
_MAX_TEXT = 1_000
STATUS_ICON = {"pending": "⏳", "failed": "❌", "edited": "✏️", "applied": "✅", "unknown": "❔", "not run": "⏭️"}


@dataclass(frozen=True)
class PlanView:
    """How much of the plan to show, and each migration's state when the deploy already ran."""

    #: The highest findings kept (None: all of them).
    keep: int | None = None
    sql_chars: int = SQL_CHARS[0]
    #: Migration name -> what the deploy did with it (applied, failed, unknown, not run).
    statuses: Mapping[str, str] = field(default_factory=dict)
    #: Where the untruncated report is (an artifact, a path, a URL), for the truncation note.
    full_report: str | None = None


def basis_lines(plan: PlanReport) -> list[str]:
    """Whether the review used live data, said plainly, and how to give it some when not."""
    if plan.basis == "live":
        return [f"🔎 Reviewed against live data from {code(plan.database or '?')}: pending status from its "
                "migration history, table sizes measured."]
    how = (f"Add a read-only `{PLAN_SECRET}` secret for sizes and true pending status "
           f"([how]({LIVE_DATA_DOCS})).")
    if plan.basis == "diff":
        what = (f"**No live data**: pending = the migrations added or changed vs {code(plan.base or '?')}; tables "
                "created earlier are assumed to exist with unknown size.")
    else:
        what = ("**No live data and no base to compare**: every migration is treated as pending and every table it "
                "creates as new and empty, so a risky change to a table an earlier migration created can go unseen.")
    return ["> [!WARNING]", f"> {what} {how}"]


def counts_line(plan: PlanReport, *, deployed: bool = False) -> str:
    """``🟧 2 high · 🟦 1 low · 1 waived · tool `prisma```."""
    parts = [f"{SEVERITY_ICON[Severity(name)]} {n} {name}" for name, n in plan.counts().items()] or ["no findings"]
    if plan.waived:
        parts.append(f"{len(plan.waived)} waived")
    n = len(plan.pending)
    what = f"{n} migration{'s' if n != 1 else ''} {'reviewed' if deployed else 'pending'}"
    return " · ".join([what, *parts, f"tool {code(plan.tool)}"])


def plan_body(plan: PlanReport, view: PlanView, *, basis: bool = True) -> list[str]:
    """The review without a heading: basis, counts, the rehearsal, notes, each migration with SQL and
    findings, sizes.

    ``basis=False`` when the caller says the basis and the rehearsal itself (the PR comment, right
    under its verdict).
    """
    lines = [*basis_lines(plan), ""] if basis else []
    lines += [counts_line(plan, deployed=bool(view.statuses)), ""]
    if basis:
        lines += plan_markdown(plan)
    for note in plan.notes:
        if not note.startswith("No database URL:"):  # the basis above says it
            lines += [f"> {note}", ""]
    shown = keep_highest(plan.findings, view.keep)
    if len(shown) < len(plan.findings):
        lines += [truncation_note(len(plan.findings), len(shown), view.full_report), ""]
    lines += migration_blocks(plan, shown, view)
    lines += sizes_section(plan)
    return lines


def migration_blocks(plan: PlanReport, findings: list[Finding], view: PlanView) -> list[str]:
    """Per migration in apply order: heading, SQL collapsed, findings table, each fix collapsed."""
    groups = dict(group_by_migration(plan.migrations, [*findings, *plan.waived]))
    by_name = {m.name: m for m in plan.migrations}
    names = [m.name for m in plan.migrations] + [n for n in groups if n not in by_name]
    lines: list[str] = []
    quiet: list[str] = []
    shown = 0
    for name in names:
        group = groups.get(name, [])
        migration = by_name.get(name)
        if not group and shown >= LISTED_MIGRATIONS and migration is not None:
            quiet.append(name)
            continue
        shown += 1
        lines += _migration_heading(name, migration, group, view)
        if migration is not None and migration.status in (MigrationStatus.PENDING, MigrationStatus.FAILED):
            lines += _sql_block(migration, view.sql_chars)
        if group:
            lines += findings_markdown(plan.migrations, group, grouped=False)
    if quiet:
        lines += [f"_{len(quiet)} more migration(s) without findings: "
                  + ", ".join(code(n) for n in quiet[:200]) + ("…" if len(quiet) > 200 else "") + "._", ""]
    return lines


def _migration_heading(name: str, migration: Migration | None, group: list[Finding], view: PlanView) -> list[str]:
    if not name:
        return ["#### Configuration", ""]
    status = view.statuses.get(name) or (migration.status.value if migration is not None else "")
    icon = STATUS_ICON.get(status, "")
    active = [f for f in group if f.waived_reason is None]
    counts = ", ".join(f"{SEVERITY_ICON[Severity(s)]} {n} {s}" for s, n in _severity_counts(active))
    waived = len(group) - len(active)
    facts = [counts or "no findings"] + ([f"{waived} waived"] if waived else [])
    where_ = f"{code(migration.path)} · " if migration is not None else ""
    return [f"#### {icon} {status} · {code(name)}".replace("  ", " "), "", where_ + " · ".join(facts), ""]


def _sql_block(migration: Migration, limit: int) -> list[str]:
    sql = migration.sql
    if sql is None:
        return []
    n_lines = sql.count("\n") + (0 if sql.endswith("\n") else 1)
    if limit <= 0:
        return [f"<sub>SQL ({n_lines} lines) not shown here to fit the comment: see {html(migration.path)}</sub>", ""]
    shown = sql if len(sql) <= limit else sql[:limit].rsplit("\n", 1)[0]
    body = fenced(shown.rstrip("\n"), "sql")
    if len(shown) < len(sql):
        rest = n_lines - (shown.count("\n") + 1)
        body.append(f"_…{rest} more line(s) ({len(sql) - len(shown):,} characters): see {code(migration.path)}._")
    return details(f"SQL ({n_lines} line{'s' if n_lines != 1 else ''})", body)


def findings_markdown(migrations: Sequence[Migration], findings: list[Finding], *, grouped: bool = True) -> list[str]:
    """Findings as a four-column table, then each one's statement and fix collapsed.

    ``grouped``: a heading per migration in apply order first (the plan report's shared layout).
    """
    if grouped:
        lines: list[str] = []
        for name, group in group_by_migration(list(migrations), findings):
            lines += [f"#### {code(name) if name else 'Configuration'}", "", *findings_markdown(migrations, group,
                                                                                                grouped=False)]
        return lines
    lines = ["| severity | rule | where | what |", "|---|---|---|---|"]
    for f in findings:
        severity = f"{SEVERITY_ICON[f.severity]} {f.severity.value}"
        what = cell(f.message, _MAX_TEXT)
        if f.waived_reason is not None:
            severity += "<br>**waived**"
            what += f"<br>**Waived:** {cell(f.waived_reason, _MAX_TEXT)}"
        lines.append(f"| {severity} | {rule_link(f.rule)} | {cell(where_in_migration(f))} | {what} |")
    lines.append("")
    for f in findings:
        lines += _fix(f)
    return lines


def _fix(finding: Finding) -> list[str]:
    state = " (waived)" if finding.waived_reason is not None else ""
    summary = (f"{SEVERITY_ICON[finding.severity]} How to fix <code>{html(finding.rule)}</code>{state} at "
               f"{html(where(finding))}")
    body: list[str] = []
    if finding.statement:
        body += [*fenced(clip(finding.statement, _MAX_STATEMENT), "sql"), ""]
    body.append(clip(finding.suggestion, _MAX_TEXT * 2))
    facts = context_facts(finding)
    if facts:
        body += ["", "Context: " + html(clip(", ".join(facts), _MAX_TEXT))]
    logs = finding.context.get("logs")
    if logs:
        body += ["", *fenced(clip(str(logs), _MAX_TEXT), "text")]
    return details(summary, body)


def sizes_section(plan: PlanReport) -> list[str]:
    """The live size of each table a finding touches (nothing without live data)."""
    sizes = table_sizes([*plan.findings, *plan.waived]) if plan.live else []
    if not sizes:
        return []
    lines = ["#### Table sizes (live)", "", "| table | rows | size |", "|---|---|---|"]
    for table, rows, size in sizes:
        lines.append(f"| {code(table, in_table=True)} | {'~' + format(rows, ',') if rows is not None else '?'} "
                     f"| {format_bytes(size) if size is not None else '?'} |")
    return [*lines, ""]


def render_markdown(
    report: PlanReport,
    *,
    limit: int = COMMENT_LIMIT,
    full_report: str | None = None,
    title: str = "pgwarden plan",
) -> str:
    """``plan --format markdown``: at most ``limit`` characters (SQL shortened, then the lowest findings cut).

    ``full_report`` says where the untruncated report is (an artifact name, a path, a URL). No runbook
    checklist: the final PR comment has it, where the deploy's steps tick it.
    """
    def render(view: PlanView) -> str:
        icon = "⛔" if report.blocked else ("⚠️" if report.findings else "✅")
        lines = [f"## {icon} {title}: {verdict(report)}", "", *plan_body(report, view)]
        return "\n".join(lines).rstrip() + "\n"

    return fit(render, len(report.findings), limit, full_report)


def fit(render: Callable[[PlanView], str], n_findings: int, limit: int, full_report: str | None) -> str:
    """The fullest ``render(view)`` under ``limit``: SQL shortened first, then the lowest findings cut."""
    for sql_chars in SQL_CHARS:
        text = render(PlanView(sql_chars=sql_chars, full_report=full_report))
        if len(text) <= limit:
            return text
    low, high, best = 0, n_findings - 1, render(PlanView(keep=0, sql_chars=0, full_report=full_report))
    while low <= high:
        mid = (low + high) // 2
        candidate = render(PlanView(keep=mid, sql_chars=0, full_report=full_report))
        if len(candidate) <= limit:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    if len(best) > limit:
        # Even the skeleton is too long (thousands of migrations): cut it, keeping the verdict.
        tail = truncation_note(n_findings, 0, full_report)
        best = best[: limit - len(tail) - 2] + "\n\n" + tail
    return best


def truncation_note(total: int, kept: int, full_report: str | None) -> str:
    location = full_report or "`pgwarden plan --format markdown --output plan.md` (or the run's plan artifact)"
    return (
        f"> [!NOTE]\n> This report is too long for a GitHub comment: it shows the {kept} highest of {total} "
        f"findings. The full report is in {location}."
    )


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
