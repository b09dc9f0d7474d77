"""What every reporter needs to know about findings: order, where they point, their facts in words.

A finding's ``line`` counts lines of the SQL that was reviewed. For plain SQL files (sql,
Prisma, explicit PATHs) that is the file itself; for Alembic and Laravel the SQL was rendered
by the tool from a Python/PHP file, so the line does not exist in that file: annotations and
SARIF then point at the file as a whole, and the text says "line N of the rendered SQL".
"""

from __future__ import annotations

from collections.abc import Iterable

from pgwarden.durations import format_duration
from pgwarden.records import Finding, Migration, PlanReport
from pgwarden.units import format_bytes


def by_severity(findings: Iterable[Finding]) -> list[Finding]:
    """Highest severity first; apply order (as found) within a severity."""
    indexed = list(enumerate(findings))
    indexed.sort(key=lambda pair: (-pair[1].severity.rank, pair[0]))
    return [f for _, f in indexed]


def keep_highest(findings: list[Finding], keep: int | None) -> list[Finding]:
    """The ``keep`` highest findings (all of them for None), in the order they were found."""
    if keep is None:
        return list(findings)
    kept = {id(f) for f in by_severity(findings)[:keep]}
    return [f for f in findings if id(f) in kept]


def line_in_file(finding: Finding) -> int | None:
    """The line to annotate in ``finding.file``, or None when the line is of rendered SQL."""
    if finding.line is None or not finding.file or not finding.file.endswith(".sql"):
        return None
    return finding.line


def where(finding: Finding) -> str:
    """``file:line`` for humans, honest about rendered SQL."""
    file = finding.file or finding.migration or "(configuration)"
    if finding.line is None:
        return file
    if line_in_file(finding) is None:
        return f"{file} (line {finding.line} of the rendered SQL)"
    return f"{file}:{finding.line}"


def where_in_migration(finding: Finding) -> str:
    """Where in its migration (the migration and its file head the block): the table and the line."""
    if finding.line is None:
        place = "the whole file" if finding.migration else (finding.file or "configuration")
    elif line_in_file(finding) is None:
        place = f"line {finding.line} of the rendered SQL"
    else:
        place = f"line {finding.line}"
    return f"{finding.table}, {place}" if finding.table else place


def table_sizes(findings: Iterable[Finding]) -> list[tuple[str, int | None, int | None]]:
    """(table, rows, bytes) of each table a finding measured, in the order first met."""
    sizes: dict[str, tuple[int | None, int | None]] = {}
    for f in findings:
        rows, size = f.context.get("rows"), f.context.get("bytes")
        if not f.table or f.table in sizes or not isinstance(rows, (int, float)) or isinstance(rows, bool):
            continue
        sizes[f.table] = (int(rows), int(size) if isinstance(size, (int, float)) else None)
    return [(table, rows, size) for table, (rows, size) in sizes.items()]


def context_facts(finding: Finding) -> list[str]:
    """The live facts a rule attached, in words: rows, size, durations, then anything else."""
    parts = []
    for key, value in finding.context.items():
        if isinstance(value, bool) or key == "logs":
            continue
        if key == "rows" and isinstance(value, (int, float)):
            parts.append(f"~{int(value):,} rows")
        elif key == "bytes" and isinstance(value, (int, float)):
            parts.append(format_bytes(value))
        elif key.endswith("_s") and isinstance(value, (int, float)):
            parts.append(f"{key[:-2].replace('_', ' ')} {format_duration(float(value))}")
        elif isinstance(value, (str, int, float)) and value != "":
            parts.append(f"{key.replace('_', ' ')}: {value}")
    return parts


def group_by_migration(migrations: list[Migration], findings: list[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings per migration in apply order; findings without a migration come last."""
    order = [m.name for m in migrations]
    groups: dict[str, list[Finding]] = {name: [] for name in order}
    for finding in findings:
        groups.setdefault(finding.migration or "", []).append(finding)
    return [(name, items) for name, items in groups.items() if items]


def verdict(report: PlanReport) -> str:
    """One sentence a release manager can act on."""
    n_findings, n_pending = len(report.findings), len(report.pending)
    fail_on = report.fail_on
    if n_pending == 0 and n_findings == 0:
        return "No pending migrations: nothing to review."
    if n_findings == 0:
        waived = f" ({len(report.waived)} waived with a reason: see below)" if report.waived else ""
        return f"No risks found in {n_pending} pending migration{'s' if n_pending != 1 else ''}{waived}."
    top = report.max_severity.value if report.max_severity is not None else "none"
    found = f"{n_findings} finding{'s' if n_findings != 1 else ''}, highest {top}"
    if report.blocked:
        n_blocking = len(report.blocking_findings())
        blocking = f"{n_blocking} finding{'s' if n_blocking != 1 else ''} at or above {fail_on}"
        rest = f" ({n_findings} in all)" if n_findings != n_blocking else ""
        return f"Blocked: {blocking}{rest}, highest {top}. Resolve or justify them before deploying."
    if fail_on == "never":
        return f"Not blocking: {found} (fail-on never). Read them before approving."
    return f"Not blocking: {found}, below fail-on {fail_on}. Read them before approving."
