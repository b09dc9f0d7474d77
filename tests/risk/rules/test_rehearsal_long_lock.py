"""rehearsal-long-lock: short, weak or new-table locks stay silent, a long blocking one fires (snapshot-checked).

The cases run the plan step's own review of a rehearsal (``rehearsal_review``, rehearsal.max_lock
2s) over reports as ``pgwarden rehearse --format json`` prints them, so no database is needed.
"""

from __future__ import annotations

from typing import Any

from pgwarden.pipeline.plan_rehearsal import rehearsal_review
from pgwarden.records import Finding, Migration
from pgwarden.rehearsal import LockHeld, RehearsalReport, RehearsedMigration
from tests.risk.helpers import case_tests

ID = "rehearsal-long-lock"
CREATE_AUDIT = "CREATE TABLE audit (id bigint primary key);\nALTER TABLE audit ADD COLUMN at timestamptz;\n"
MIGRATIONS = [
    Migration("0002_backfill", "migrations/0002_backfill.sql", sql="ALTER TABLE orders ADD COLUMN total numeric;"),
    Migration("0003_audit", "migrations/0003_audit.sql", sql=CREATE_AUDIT),
    Migration("0004_index", "migrations/0004_index.sql", sql="CREATE INDEX ON orders (total);"),
]


def report(*migrations: RehearsedMigration) -> RehearsalReport:
    return RehearsalReport(version=1, backup_id="20261202T154000Z-4f2a9c", scratch_database="pgwarden_rehearse_x",
                           dropped=True, migrations=list(migrations), database="shop", tool="sql")


def ran(name: str, *locks: tuple[str, str, float], seconds: float | None = None, status: str = "applied",
        measured_with: tuple[str, ...] = ()) -> RehearsedMigration:
    held = [LockHeld(table, mode, s) for table, mode, s in locks]
    took = seconds if seconds is not None else max((s for _, _, s in locks), default=0.1) + 0.2
    return RehearsedMigration(name, status, took, locks=held, measured_with=list(measured_with),
                              sqlstate="23505" if status == "failed" else None)


def review_findings(rehearsal: RehearsalReport) -> list[Finding]:
    return rehearsal_review(rehearsal, MIGRATIONS, MIGRATIONS, 2.0, live=True).findings


OK: dict[str, Any] = {
    "ACCESS EXCLUSIVE for 1.5s (under max_lock)": report(ran("0002_backfill", ("public.orders",
                                                                                "AccessExclusiveLock", 1.5))),
    "exactly max_lock is not over it": report(ran("0002_backfill", ("public.orders", "AccessExclusiveLock", 2.0))),
    "SHARE UPDATE EXCLUSIVE for 30s (VALIDATE CONSTRAINT: the app's queries go on)": report(
        ran("0002_backfill", ("public.orders", "ShareUpdateExclusiveLock", 30.0))),
    "ROW EXCLUSIVE for 60s (a backfill's UPDATE: other writers are not blocked by the table lock)": report(
        ran("0002_backfill", ("public.orders", "RowExclusiveLock", 60.0))),
    "ACCESS EXCLUSIVE for 9s on a table the migrations create": report(
        ran("0003_audit", ("public.audit", "AccessExclusiveLock", 9.0))),
    "the failed migration's lock is rehearsal-failed's": report(
        ran("0004_index", ("public.orders", "ShareLock", 12.0), status="failed")),
}
ERR: dict[str, Any] = {
    "a backfill inside the ALTER's transaction: ACCESS EXCLUSIVE for 41s": report(
        ran("0002_backfill", ("public.orders", "AccessExclusiveLock", 41.2), ("public.customers", "AccessShareLock",
                                                                              41.2), seconds=42.3)),
    "CREATE INDEX without CONCURRENTLY: SHARE for 12s": report(
        ran("0002_backfill", ("public.orders", "AccessExclusiveLock", 0.1)),
        ran("0004_index", ("public.orders", "ShareLock", 12.0))),
    "two migrations in one transaction, a table in another schema": report(
        ran("0002_backfill", ("billing.invoices", "ExclusiveLock", 7.5), measured_with=("0004_index",)),
        ran("0004_index", ("billing.invoices", "ExclusiveLock", 7.5), measured_with=("0002_backfill",))),
}

test_ok, test_err, test_snapshot = case_tests(ID, review_findings, OK, ERR)


def test_it_is_high_with_the_measured_figures() -> None:
    [finding] = review_findings(ERR["a backfill inside the ALTER's transaction: ACCESS EXCLUSIVE for 41s"])
    assert (finding.severity.value, finding.category.value, finding.table) == ("high", "blocking-lock", "orders")
    assert finding.file == "migrations/0002_backfill.sql"
    assert finding.context == {"mode": "AccessExclusiveLock", "held_s": 41.2, "max_lock_s": 2.0,
                               "backup_id": "20261202T154000Z-4f2a9c"}
    assert "every query on orders waits that long" in finding.message


def test_the_threshold_is_rehearsal_max_lock() -> None:
    rehearsal = ERR["CREATE INDEX without CONCURRENTLY: SHARE for 12s"]
    assert rehearsal_review(rehearsal, MIGRATIONS, MIGRATIONS, 15.0, live=True).findings == []
    assert len(rehearsal_review(rehearsal, MIGRATIONS, MIGRATIONS, 0.05, live=True).findings) == 2
