"""edited-after-apply: a migration file changed after it was applied; its checksum no longer matches the history.

Not a check on the SQL: the plan step calls :func:`finding` for each migration the tool lists
as ``edited`` (its file's sha256 differs from the one recorded when it ran).
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


def finding(migration: Migration, *, tool: str) -> Finding:
    """The finding for ``migration``, whose file no longer matches what ``tool`` recorded."""
    return Finding(
        rule=ID,
        category=CATEGORY,
        severity=SEVERITY,
        migration=migration.name,
        file=migration.path,
        message=(
            f"{migration.path} was edited after it was applied: its sha256 ({(migration.checksum or '')[:12]}...) "
            f"no longer matches the checksum recorded in {history_table(tool)}. The database does not have the "
            "new content, and the tool will refuse or silently ignore the change"
        ),
        suggestion=SUGGESTION,
        context={"checksum": migration.checksum},
    )
