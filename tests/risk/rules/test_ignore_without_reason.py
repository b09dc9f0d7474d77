"""ignore-without-reason: ok examples stay silent, err examples fire (their text is snapshot-checked).

The config's ``risk.ignore`` entries are checked too, outside the SQL examples.
"""

from __future__ import annotations

from pgwarden.config import IgnoreEntry, RiskConfig
from pgwarden.records import Migration
from pgwarden.risk.engine import review
from tests.risk.helpers import rule_tests

ID = "ignore-without-reason"
OK: list[str | tuple[str, ...]] = [
    "DROP TABLE users;",
    "-- pgwarden:ignore drop-table replaced by the archive table in 2023\nDROP TABLE users;",
    "DROP TABLE users; -- pgwarden:ignore drop-table replaced by the archive table",
]
ERR: list[str | tuple[str, ...]] = [
    "-- pgwarden:ignore drop-table\nDROP TABLE users;",
    "DROP TABLE users; -- pgwarden:ignore",
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)


def test_config_entry_without_reason_is_reported_and_with_one_is_not() -> None:
    migrations = [Migration("a", "a.sql", sql="SELECT 1;")]
    bare = RiskConfig(ignore=[IgnoreEntry(rule="drop-table", migration="a")])
    [finding] = [f for f in review(migrations, risk=bare) if f.rule == ID]
    assert finding.migration == "a" and finding.file is None
    assert finding.message == "risk.ignore entry for drop-table has no reason, so it is not applied"
    assert finding.suggestion == "Add `reason:` to the entry in pgwarden.yml saying why the risk is accepted."
    reasoned = RiskConfig(ignore=[IgnoreEntry(rule="drop-table", reason="archived in S3")])
    assert [f for f in review(migrations, risk=reasoned) if f.rule == ID] == []
