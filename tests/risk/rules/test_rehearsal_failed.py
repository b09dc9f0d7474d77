"""rehearsal-failed: a rehearsal where everything applied stays silent, one with a failure fires (snapshot-checked).

The cases run the plan step's own review of a rehearsal (``rehearsal_review``) over reports as
``pgwarden rehearse --format json`` prints them, so no database is needed.
"""

from __future__ import annotations

from typing import Any

from pgwarden.pipeline.plan_rehearsal import rehearsal_review
from pgwarden.records import Finding, Migration
from pgwarden.rehearsal import LockHeld, RehearsalReport, RehearsedMigration
from pgwarden.risk.rules.rehearsal_failed import cause, error_line
from tests.risk.helpers import case_tests

ID = "rehearsal-failed"
NAMES = ("0002_backfill", "0003_unique_slug", "0004_index")
MIGRATIONS = [Migration(name, f"migrations/{name}.sql") for name in NAMES]


def report(*migrations: RehearsedMigration) -> RehearsalReport:
    return RehearsalReport(version=1, backup_id="20261202T154000Z-4f2a9c", scratch_database="pgwarden_rehearse_x",
                           dropped=True, migrations=list(migrations), database="shop", tool="sql")


def applied(name: str, seconds: float = 0.4) -> RehearsedMigration:
    return RehearsedMigration(name, "applied", seconds,
                              locks=[LockHeld("public.orders", "AccessExclusiveLock", seconds - 0.1)])


def failed(name: str, error: str | None, sqlstate: str | None) -> RehearsedMigration:
    return RehearsedMigration(name, "failed", 3.1, error=error, sqlstate=sqlstate)


def not_run(name: str) -> RehearsedMigration:
    return RehearsedMigration(name, "not-run", None)


def review_findings(rehearsal: RehearsalReport) -> list[Finding]:
    return rehearsal_review(rehearsal, MIGRATIONS, MIGRATIONS, 2.0, live=True).findings


OK: dict[str, Any] = {
    "every migration applied": report(applied(NAMES[0]), applied(NAMES[1]), applied(NAMES[2])),
    "nothing was pending": report(),
}
ERR: dict[str, Any] = {
    "a unique index over duplicated values, the next one not run": report(
        applied(NAMES[0]), failed(NAMES[1], 'could not create unique index "orders_slug_key"', "23505"),
        not_run(NAMES[2])),
    "SET NOT NULL over a NULL (the last migration)": report(
        applied(NAMES[0]), applied(NAMES[1]),
        failed(NAMES[2], 'column "slug" of relation "orders" contains null values', "23502")),
    "an enum cast over a value still in use: the value is masked": report(
        failed(NAMES[0], 'invalid input value for enum order_state: "on-hold"', "22P02"), not_run(NAMES[1]),
        not_run(NAMES[2])),
    "no SQLSTATE, a tool's own message": report(failed(NAMES[0], "prisma migrate deploy exited with code 1", None)),
}

test_ok, test_err, test_snapshot = case_tests(ID, review_findings, OK, ERR)


def test_it_is_critical_and_names_the_file_the_sqlstate_and_the_backup() -> None:
    [finding] = review_findings(ERR["a unique index over duplicated values, the next one not run"])
    assert (finding.severity.value, finding.category.value) == ("critical", "will-fail")
    assert (finding.migration, finding.file) == (NAMES[1], f"migrations/{NAMES[1]}.sql")
    assert finding.context == {"sqlstate": "23505", "backup_id": "20261202T154000Z-4f2a9c", "duration_s": 3.1}


def test_production_values_never_reach_the_message() -> None:
    """Only PostgreSQL's primary message: DETAIL lines and a key's values are cut, data errors' quotes masked."""
    duplicate = failed("m", 'ERROR: could not create unique index "orders_slug_key"\n'
                            "DETAIL: Key (slug)=(hello-world) is duplicated.", "23505")
    assert error_line(duplicate) == 'could not create unique index "orders_slug_key"'
    inline = failed("m", 'duplicate key value violates unique constraint "k" DETAIL: Key (a, b)=(1, x(y)) exists',
                    "23505")
    assert error_line(inline) == 'duplicate key value violates unique constraint "k"'
    keyed = failed("m", "conflicting key value violates exclusion constraint: Key (room)=(12) conflicts", "23P01")
    assert "12" not in error_line(keyed) and "Key (room)=(…)" in error_line(keyed)
    enum = failed("m", 'invalid input value for enum order_state: "on-hold"', "22P02")
    assert error_line(enum) == 'invalid input value for enum order_state: "…"'
    assert cause(enum) == "invalid input value (22P02)"
    assert cause(failed("m", None, "XX001")) == "error (XX001)"
    assert cause(failed("m", None, None)) == "an error without a message"
    long = failed("m", "x" * 500, "42601")
    assert len(error_line(long)) == 200 and error_line(long).endswith("…")
