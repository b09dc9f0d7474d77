"""sql-unavailable: pgwarden could not see the SQL a migration runs, so it was not reviewed.

Not a check on the SQL (there is none): the plan step calls :func:`finding` for each pending
migration the tool could not render to SQL (Laravel without ``--pretend`` output, say).
"""

from __future__ import annotations

from pgwarden.records import Category, Finding, Migration, Severity

ID = "sql-unavailable"
CATEGORY = Category.OTHER
SEVERITY = Severity.MEDIUM
SUGGESTION = (
    "Make the plan command print it (Laravel: `php artisan migrate --pretend --force --no-ansi` against a "
    "database where it is pending) or plan its SQL file as an explicit PATH."
)


def finding(migration: Migration) -> Finding:
    """The finding for pending ``migration``, whose SQL is unknown."""
    return Finding(
        rule=ID,
        category=CATEGORY,
        severity=SEVERITY,
        migration=migration.name,
        file=migration.path,
        message=f"pgwarden could not see the SQL of {migration.name}, so it was not reviewed",
        suggestion=SUGGESTION,
    )
