"""A waived finding reaches code scanning as a dismissed result with its reason, not as nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fix_project import write_sql_project


def test_waived_finding_is_a_suppressed_sarif_result_with_its_reason(cli, tmp_path: Path) -> None:
    write_sql_project(tmp_path, {
        "0001_items": "create table items (id int primary key, legacy text);\n",
        "0002_drop": "-- pgwarden:ignore drop-column nothing reads legacy since release 41\n"
                     "alter table items drop column legacy;\n"
                     "drop table items;\n",
    })
    result = cli("plan", "--format", "sarif", "--fail-on", "never", "migrations/0002_drop.sql",
                 cwd=tmp_path, env={"DATABASE_URL": ""})

    assert result.code == 0, result.output
    results = json.loads(result.stdout)["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    waived = by_rule["drop-column"]
    assert waived["suppressions"] == [{"kind": "external", "status": "accepted",
                                       "justification": "nothing reads legacy since release 41"}]
    assert "suppressions" not in by_rule["drop-table"], "an unwaived finding stays an open alert"
