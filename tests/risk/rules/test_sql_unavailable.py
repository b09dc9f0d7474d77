"""sql-unavailable: pending migrations with SQL stay silent, one without fires (snapshot-checked).

The cases run ``plan_migrations`` (static) over a tool whose pending migrations are given.
"""

from __future__ import annotations

from typing import Any

import pytest

from pgwarden.config import Settings
from pgwarden.pipeline import plan
from pgwarden.records import Finding, Migration
from tests.risk.helpers import HistoryTool, case_tests

ID = "sql-unavailable"
STATUS = Migration("2024_05_20_081532_add_status_to_invoices_table",
                   "database/migrations/2024_05_20_081532_add_status_to_invoices_table.php",
                   sql='alter table "invoices" add column "status" varchar(255) null;')
NOTES = Migration("2024_06_01_090000_add_notes_to_invoices_table",
                  "database/migrations/2024_06_01_090000_add_notes_to_invoices_table.php")


def plan_findings(pending: list[Migration]) -> list[Finding]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan, "check_migrations_path", lambda settings: None)
        patch.setattr(plan, "get_tool", lambda settings: HistoryTool("laravel", pending))
        return plan.plan_migrations(Settings()).findings


OK: dict[str, Any] = {
    "laravel rendered the SQL": [STATUS],
    "nothing pending": [],
}
ERR: dict[str, Any] = {
    "laravel printed no SQL for it": [NOTES],
    "one rendered, one not": [STATUS, NOTES],
}

test_ok, test_err, test_snapshot = case_tests(ID, plan_findings, OK, ERR)
