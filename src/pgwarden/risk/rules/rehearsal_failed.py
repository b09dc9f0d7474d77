"""rehearsal-failed: a pending migration failed when it was rehearsed on a restored copy of production.

Not a check on the SQL: ``pgwarden rehearse`` ran the pending migrations on a scratch copy of a
verified backup and one of them failed there (:class:`~pgwarden.rehearsal.RehearsalReport`);
``plan --rehearsal FILE`` and the PR comment call :func:`findings`. The same SQL on the same data
fails the same way in production, so the finding is critical. Only PostgreSQL's primary message
is shown, never its DETAIL (which carries production values, e.g. the duplicated key), and in
data errors (SQLSTATE class 22) the quoted values are masked too
(:func:`pgwarden.pg_messages.primary_message`, the rule the rehearsal's own report follows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgwarden.records import Category, Finding, Migration, Severity

if TYPE_CHECKING:
    # Loaded where a rehearsal is read: the rule registry imports this module for every plan.
    from pgwarden.rehearsal import RehearsalReport, RehearsedMigration

ID = "rehearsal-failed"
CATEGORY = Category.WILL_FAIL
SEVERITY = Severity.CRITICAL
SUGGESTION = (
    "Fix the migration (or the data it meets) so it succeeds on a copy of production, then rehearse again "
    "before deploying."
)
#: The primary message is cut to this many characters.
ERROR_CHARS = 200
#: What the common SQLSTATEs of a failed migration mean, in a few words.
CONDITIONS = {
    "23505": "duplicate key",
    "23502": "null value in a NOT NULL column",
    "23503": "foreign key violation",
    "23514": "check constraint violation",
    "23P01": "exclusion constraint violation",
    "22P02": "invalid input value",
    "22001": "value too long",
    "22003": "numeric value out of range",
    "22007": "invalid date/time format",
    "22008": "date/time out of range",
    "22012": "division by zero",
    "42P07": "relation already exists",
    "42701": "column already exists",
    "42710": "object already exists",
    "42P01": "relation does not exist",
    "42703": "column does not exist",
    "42704": "object does not exist",
    "42883": "function does not exist",
    "42601": "syntax error",
    "42501": "permission denied",
    "42804": "type mismatch",
    "0A000": "feature not supported",
    "25001": "cannot run inside a transaction block",
    "55P03": "lock not available (lock_timeout)",
    "57014": "canceled (statement_timeout)",
    "40P01": "deadlock",
    "53100": "disk full",
    "54000": "program limit exceeded",
    "58P01": "file not found (extension not installed?)",
}
def condition(sqlstate: str | None) -> str:
    """``duplicate key`` for 23505; the class for an unlisted code; "" for none."""
    if not sqlstate:
        return ""
    if sqlstate in CONDITIONS:
        return CONDITIONS[sqlstate]
    return {"22": "data exception", "23": "integrity constraint violation", "42": "syntax error or access rule",
            "53": "insufficient resources", "57": "operator intervention"}.get(sqlstate[:2], "error")


def error_line(migration: RehearsedMigration) -> str:
    """PostgreSQL's primary message of the failure, without production values: "" when none."""
    from pgwarden.pg_messages import primary_message

    line = primary_message(migration.error, sqlstate=migration.sqlstate) or ""
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


def cause(migration: RehearsedMigration) -> str:
    """``duplicate key (23505)``, or the message when there is no SQLSTATE."""
    name = condition(migration.sqlstate)
    if name:
        return f"{name} ({migration.sqlstate})"
    return error_line(migration) or "an error without a message"


def findings(report: RehearsalReport, migrations: Sequence[Migration] = ()) -> list[Finding]:
    """One critical finding for the migration that failed in ``report`` (``migrations`` give its file)."""
    from pgwarden.rehearsal import FAILED

    paths = {m.name: m.path for m in migrations}
    result = []
    for migration in report.migrations:
        if migration.status != FAILED:
            continue
        message = error_line(migration)
        said = f": {message}" if message and message != cause(migration) else ""
        later = sum(1 for m in report.migrations if m.status == "not-run")
        rest = f"; {later} later migration{'s' if later != 1 else ''} did not run" if later else ""
        result.append(Finding(
            rule=ID,
            category=CATEGORY,
            severity=SEVERITY,
            migration=migration.name,
            file=paths.get(migration.name),
            message=(
                f"{migration.name} failed in rehearsal on a copy of production (backup {report.backup_id}): "
                f"{cause(migration)}{said}{rest}. It will fail the same way in production"
            ),
            suggestion=SUGGESTION,
            context={"sqlstate": migration.sqlstate or "", "backup_id": report.backup_id,
                     **({"duration_s": migration.duration_s} if migration.duration_s is not None else {})},
        ))
    return result
