"""failed-migration: histories without a failed migration stay silent, with one it fires (snapshot-checked).

The cases run the plan step's own reading of the tool's history (``from_tool``) over a tool
whose history is given, so no database is needed.
"""

from __future__ import annotations

from typing import Any

from pgwarden.pipeline.plan import from_tool
from pgwarden.records import Finding, Migration, MigrationStatus
from pgwarden.risk.rules.failed_migration import LOGS_CHARS
from tests.risk.helpers import HistoryTool, case_tests

ID = "failed-migration"
INIT = Migration("20240110093000_init", "prisma/migrations/20240110093000_init/migration.sql",
                 MigrationStatus.APPLIED)
SLUG = Migration("20240302141500_add_post_slug", "prisma/migrations/20240302141500_add_post_slug/migration.sql",
                 MigrationStatus.FAILED, sql="ALTER TABLE posts ALTER COLUMN slug SET NOT NULL;")
SQL_INIT = Migration("0001_init", "migrations/0001_init.sql", MigrationStatus.APPLIED)
SQL_MORE = Migration("0002_more", "migrations/0002_more.sql", MigrationStatus.FAILED, sql="SELECT 1;")
LOGS = 'Database error code: 23502\n\ncolumn "slug" contains null values'


def history_findings(tool: HistoryTool) -> list[Finding]:
    return from_tool(tool, object())[2]  # type: ignore[arg-type]  # the fake tool never uses conn


OK: dict[str, Any] = {
    "everything applied": HistoryTool("prisma", [INIT]),
    "pending, never started": HistoryTool("prisma", [INIT, Migration(SLUG.name, SLUG.path, sql=SLUG.sql)]),
}
ERR: dict[str, Any] = {
    "prisma records it started, never finished, with logs": HistoryTool("prisma", [INIT, SLUG], [SLUG.name],
                                                                         {SLUG.name: LOGS}),
    "sql records an error and no finished_at": HistoryTool("sql", [SQL_INIT, SQL_MORE], [SQL_MORE.name]),
}

test_ok, test_err, test_snapshot = case_tests(ID, history_findings, OK, ERR)


def test_context_has_the_resolve_command_and_the_logs_cut_short() -> None:
    tool = HistoryTool("prisma", [INIT, SLUG], [SLUG.name], {SLUG.name: "x" * (LOGS_CHARS + 10)})
    [finding] = history_findings(tool)
    assert finding.context == {"resolve": f"prisma resolve {SLUG.name}", "logs": "x" * LOGS_CHARS}
    [without_logs] = history_findings(HistoryTool("sql", [SQL_INIT, SQL_MORE], [SQL_MORE.name]))
    assert without_logs.context == {"resolve": f"sql resolve {SQL_MORE.name}"}
