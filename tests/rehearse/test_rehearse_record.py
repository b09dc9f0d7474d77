"""The rehearsal record: its JSON document (issue 14's keys first), read back, and wrong shapes refused."""

from __future__ import annotations

import json

import pytest

from pgwarden.rehearsal import (
    LOCK_MODES,
    LockHeld,
    RehearsalReport,
    RehearsedMigration,
    RehearsedStatement,
    mode_label,
    sort_locks,
    strongest,
)


def _report() -> RehearsalReport:
    lock = LockHeld("public.orders", "AccessExclusiveLock", 3.1004)
    return RehearsalReport(
        version=1, backup_id="20261202T120000Z-ab12", scratch_database="pgwarden_rehearse_20261202t120000z_a1b2c3",
        dropped=True,
        migrations=[
            RehearsedMigration("0002_backfill", "applied", 3.2, locks=[lock], rewritten=["public.orders"],
                               statements=[RehearsedStatement("update orders set x = 1", 3.0, [lock])],
                               rows_written=300000, wal_bytes=12345678),
            RehearsedMigration("0003_unique", "failed", 0.4, error="duplicate key value", sqlstate="23505"),
            RehearsedMigration("0004_later", "not-run", None),
        ],
        database="shop", server="127.0.0.1:5432", backup_taken_at="2026-12-02T12:00:00+00:00",
        rehearsed_at="2026-12-02T12:04:00+00:00", restore_s=10.5, migrate_s=3.7, sample_interval_s=0.01,
        tool="sqldir",
    )


def test_the_document_keeps_the_issue_shape_and_reads_back() -> None:
    report = _report()
    document = report.to_json()
    assert list(document)[:5] == ["version", "backup_id", "scratch_database", "dropped", "migrations"]
    first = document["migrations"][0]
    assert list(first)[:7] == ["name", "status", "duration_s", "error", "sqlstate", "locks", "rewritten"]
    assert first["locks"] == [{"table": "public.orders", "mode": "AccessExclusiveLock", "held_s": 3.1}]
    assert document["migrations"][2]["duration_s"] is None
    assert document["ok"] is False
    again = RehearsalReport.from_json(json.loads(json.dumps(document)))
    assert again.to_json() == document
    assert again.failed is not None and again.failed.sqlstate == "23505"


def test_unknown_keys_are_ignored_and_optional_ones_may_be_missing() -> None:
    document = {"version": 1, "backup_id": "b", "scratch_database": "s", "dropped": False, "later": {"x": 1},
                "migrations": [{"name": "0001", "status": "applied", "duration_s": 1, "extra": True}]}
    report = RehearsalReport.from_json(document)
    assert report.ok and report.migrations[0].locks == [] and report.migrations[0].duration_s == 1.0
    assert report.tool == "" and report.restore_s == 0.0


@pytest.mark.parametrize(("change", "named"), [
    ({"version": "1"}, "version"),
    ({"dropped": "yes"}, "dropped"),
    ({"migrations": None}, "migrations"),
    ({"migrations": [{"name": "0001", "status": "done", "duration_s": 1}]}, "status"),
    ({"migrations": [{"name": "0001", "status": "applied", "duration_s": "1s"}]}, "duration_s"),
    ({"migrations": [{"name": "0001", "status": "applied", "duration_s": 1, "locks": [{"table": "t"}]}]}, "mode"),
    ({"migrations": [{"name": "0001", "status": "applied", "duration_s": 1, "rewritten": [1]}]}, "rewritten"),
    ({"backup_id": None}, "backup_id"),
])
def test_a_wrong_shape_is_a_value_error_naming_the_key(change: dict[str, object], named: str) -> None:
    document = {**_report().to_json(), **change}
    with pytest.raises(ValueError, match=named):
        RehearsalReport.from_json(document)
    with pytest.raises(ValueError, match="object"):
        RehearsalReport.from_json([document])


def test_lock_modes_in_strength_order() -> None:
    assert LOCK_MODES[0] == "AccessShareLock" and LOCK_MODES[-1] == "AccessExclusiveLock"
    assert strongest(["RowExclusiveLock", "ShareLock", "AccessShareLock"]) == "ShareLock"
    assert strongest(["SIReadLock", "AccessShareLock"]) == "AccessShareLock"
    assert strongest([]) is None
    assert mode_label("AccessExclusiveLock") == "ACCESS EXCLUSIVE"
    assert mode_label("ShareUpdateExclusiveLock") == "SHARE UPDATE EXCLUSIVE"
    locks = [LockHeld("public.a", "RowExclusiveLock", 9.0), LockHeld("public.b", "AccessExclusiveLock", 1.0),
             LockHeld("public.c", "AccessExclusiveLock", 2.0)]
    assert [lk.table for lk in sort_locks(locks)] == ["public.c", "public.b", "public.a"]
    migration = RehearsedMigration("m", "applied", 9.0, locks=locks)
    assert migration.longest_lock() == locks[0]
    assert migration.longest_lock(("AccessExclusiveLock",)) == locks[2]
