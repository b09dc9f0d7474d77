"""edited-after-apply: unchanged or pending files stay silent, an edited one fires (snapshot-checked).

The cases run the plan step's own reading of the tool's history (``from_tool``) over a tool
whose history is given, so no database is needed.
"""

from __future__ import annotations

from typing import Any

from pgwarden.pipeline.plan import from_tool
from pgwarden.records import Finding, Migration, MigrationStatus
from tests.risk.helpers import HistoryTool, case_tests

ID = "edited-after-apply"
INIT_PATH = "prisma/migrations/20240110093000_init/migration.sql"
CHECKSUM = "3f2a9c" + "0" * 58


def history_findings(tool: HistoryTool) -> list[Finding]:
    return from_tool(tool, object())[2]  # type: ignore[arg-type]  # the fake tool never uses conn


OK: dict[str, Any] = {
    "applied, file unchanged": HistoryTool("prisma", [Migration("20240110093000_init", INIT_PATH,
                                                                MigrationStatus.APPLIED, CHECKSUM)]),
    "pending": HistoryTool("sql", [Migration("0002_more", "migrations/0002_more.sql", sql="SELECT 1;")]),
}
ERR: dict[str, Any] = {
    "prisma: the applied init migration was edited": HistoryTool(
        "prisma", [Migration("20240110093000_init", INIT_PATH, MigrationStatus.EDITED, CHECKSUM)]),
    "sql: an applied file was edited, the next is pending": HistoryTool("sql", [
        Migration("0001_init", "migrations/0001_init.sql", MigrationStatus.EDITED, CHECKSUM),
        Migration("0002_more", "migrations/0002_more.sql", sql="SELECT 1;"),
    ]),
}

test_ok, test_err, test_snapshot = case_tests(ID, history_findings, OK, ERR)


def test_context_has_the_file_checksum() -> None:
    [finding] = history_findings(ERR["prisma: the applied init migration was edited"])
    assert finding.context == {"checksum": CHECKSUM} and finding.file == INIT_PATH
