"""edited-after-apply: a migration file changed after it was applied; its checksum no longer matches the history.

Not a check on the SQL: the plan step calls :func:`finding` for each migration the tool lists
as ``edited`` (its file's sha256 differs from the one recorded when it ran), and, under
``plan --base REF`` without a database, for each migration file that existed at REF's merge-base
and changed since (``since``: it is taken as applied there).
"""

from __future__ import annotations

from pgwarden.names import history_table
from pgwarden.records import Category, Finding, Migration, Severity

ID = "edited-after-apply"
CATEGORY = Category.WILL_FAIL
SEVERITY = Severity.CRITICAL
SUGGESTION = (
    "Restore the file exactly as it was applied (e.g. `git log -p` / `git checkout <commit> -- <file>`) "
    "and put the change in a new migration."
)


def finding(migration: Migration, *, tool: str, since: str | None = None) -> Finding:
    """The finding for ``migration``, whose file no longer matches what ``tool`` recorded (or, with
    ``since``, what the file was at that base, where it is taken as applied)."""
    if since is not None:
        message = (
            f"{migration.path} changed after {since}, where it already existed: a migration on the base "
            "branch is taken as applied, so the database has the old content, and the tool will refuse or "
            "silently ignore the change"
        )
    else:
        message = (
            f"{migration.path} was edited after it was applied: its sha256 ({(migration.checksum or '')[:12]}...) "
            f"no longer matches the checksum recorded in {history_table(tool)}. The database does not have the "
            "new content, and the tool will refuse or silently ignore the change"
        )
    return Finding(
        rule=ID,
        category=CATEGORY,
        severity=SEVERITY,
        migration=migration.name,
        file=migration.path,
        message=message,
        suggestion=SUGGESTION,
        context={"checksum": migration.checksum},
    )
