"""failed-migration: a migration failed in an earlier deploy and is recorded as neither finished nor rolled back.

Not a check on the SQL: the plan step asks the migration tool which migrations failed
(``MigrationTool.failed``) and calls :func:`finding` for each, with what the tool knows about
it (its resolve command, its recorded logs).
"""

from __future__ import annotations

from typing import Any

from pgwarden.names import history_table
from pgwarden.records import Category, Finding, Migration, Severity

ID = "failed-migration"
CATEGORY = Category.WILL_FAIL
SEVERITY = Severity.CRITICAL
SUGGESTION = (
    "Check what the failed attempt changed (its statements may be partly applied), undo or finish "
    "that by hand, then mark the migration resolved with the tool and plan again."
)
#: The tool's logs of the failed attempt are cut to this many characters (they can hold a whole stack).
LOGS_CHARS = 2000


def finding(migration: Migration, *, tool: str, resolve_hint: str, logs: str | None) -> Finding:
    """The finding for ``migration``, which ``tool`` records as failed; ``resolve_hint`` marks it resolved."""
    context: dict[str, Any] = {"resolve": resolve_hint}
    if logs:
        context["logs"] = logs[:LOGS_CHARS]
    return Finding(
        rule=ID,
        category=CATEGORY,
        severity=SEVERITY,
        migration=migration.name,
        file=migration.path,
        message=(
            f"{migration.name} failed in an earlier deploy: {history_table(tool)} records it as started but "
            f"neither finished nor rolled back, so {tool} refuses to apply anything until it is resolved"
        ),
        suggestion=(
            f"Check what the failed attempt changed (its statements may be partly applied), undo or finish "
            f"that by hand, then run `{resolve_hint}` and plan again."
        ),
        context=context,
    )
