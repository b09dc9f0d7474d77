"""The deploy's decisions as pure functions, without a database: which backup, retry or stop, cancel or not."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pgwarden.errors import SafetyRefusal
from pgwarden.manifest import BackupManifest
from pgwarden.pg.watchdog import RECANCEL_AFTER_S, LockWait, decide_cancels
from pgwarden.pipeline.deploy_attempts import attempt_outcome, decide_retry
from pgwarden.pipeline.deploy_preconditions import choose_backup
from pgwarden.tools.base import ApplyResult

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
HOUR = 3600.0


def manifest(backup_id: str, *, database: str = "shop", age_s: float = 60.0, verified: bool = True) -> BackupManifest:
    created = (NOW - dt.timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return BackupManifest(id=backup_id, created_at=created, database=database, server_version="18.0",
                          pg_dump_version="18.0", format="custom", compression="none", verified=verified,
                          verification="checksums match" if verified else "")


# --- choose_backup ----------------------------------------------------------------------------


def test_choose_backup_takes_the_newest_verified_backup_of_this_database() -> None:
    manifests = [manifest("other-db", database="billing"), manifest("unverified", verified=False),
                 manifest("good", age_s=120), manifest("older", age_s=600)]
    choice = choose_backup(manifests, database="shop", max_age_s=HOUR, now=NOW)
    assert choice.backup_id == "good"
    assert choice.description == "good (2min 00s old, verified)"
    assert choice.manifest is manifests[2]
    assert choice.no_backup_reason is None


def test_choose_backup_refuses_when_there_is_none_and_names_the_store() -> None:
    with pytest.raises(SafetyRefusal, match="no verified backup of shop in file://backups") as refused:
        choose_backup([manifest("x", database="billing"), manifest("y", verified=False)],
                      database="shop", max_age_s=HOUR, store_uri="file://backups", now=NOW)
    assert "--no-backup --reason" in (refused.value.hint or "")


def test_choose_backup_refuses_a_newest_backup_that_is_too_old() -> None:
    # The newest is too old; an older one cannot be better, so no fallback to it.
    with pytest.raises(SafetyRefusal, match=r"backup stale is 2h 00min old, older than backup\.max_age"):
        choose_backup([manifest("stale", age_s=2 * HOUR), manifest("staler", age_s=3 * HOUR)],
                      database="shop", max_age_s=HOUR, now=NOW)


@pytest.mark.parametrize(("chosen", "message"), [
    (manifest("b1", database="billing"), "is of database 'billing', not of 'shop'"),
    (manifest("b1", verified=False), "is not verified (verification did not pass)"),
    (manifest("b1", age_s=2 * HOUR), "2h 00min old, older than backup.max_age 1h 00min"),
])
def test_choose_backup_checks_the_backup_asked_for(chosen: BackupManifest, message: str) -> None:
    with pytest.raises(SafetyRefusal, match=re.escape(message)):
        choose_backup([chosen], database="shop", max_age_s=HOUR, backup_id="b1", now=NOW)


def test_choose_backup_uses_the_backup_asked_for_even_when_a_newer_one_exists() -> None:
    manifests = [manifest("newest"), manifest("asked", age_s=300)]
    assert choose_backup(manifests, database="shop", max_age_s=HOUR, backup_id="asked", now=NOW).backup_id == "asked"
    with pytest.raises(SafetyRefusal, match="backup missing not found"):
        choose_backup(manifests, database="shop", max_age_s=HOUR, backup_id="missing", now=NOW)


# --- decide_retry -----------------------------------------------------------------------------


def test_attempt_outcome_names_what_happened() -> None:
    assert attempt_outcome(ApplyResult(applied=["a"]), cancelled_by_watchdog=False) == "succeeded"
    assert attempt_outcome(ApplyResult(error="lock timeout", lock_timeout_hit=True), True) == "lock-timeout"
    assert attempt_outcome(ApplyResult(error="canceling statement"), True) == "cancelled-by-watchdog"
    assert attempt_outcome(ApplyResult(error="syntax error"), False) == "failed"


def test_decide_retry_backs_off_exponentially_on_lock_trouble() -> None:
    waits = [decide_retry("lock-timeout", attempt, 4, backoff_s=0.5) for attempt in (1, 2, 3)]
    assert [d.retry for d in waits] == [True, True, True]
    assert [d.wait_s for d in waits] == [0.5, 1.0, 2.0]
    assert decide_retry("cancelled-by-watchdog", 1, 2, backoff_s=1.0).retry


def test_decide_retry_gives_up_when_the_attempts_are_used_up() -> None:
    last = decide_retry("lock-timeout", 3, 3, backoff_s=0.5)
    assert not last.retry and last.gave_up
    assert last.why == "gave up after 3 attempt(s)"
    assert not decide_retry("cancelled-by-watchdog", 1, 1, backoff_s=0.5).retry  # retries: 0


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_decide_retry_never_retries_success_or_a_real_failure(outcome: str) -> None:
    decision = decide_retry(outcome, 1, 5, backoff_s=0.5)
    assert not decision.retry and not decision.gave_up and decision.wait_s == 0.0


# --- decide_cancels ---------------------------------------------------------------------------

MIGRATION = frozenset({100})


def wait(pid: int, waited_s: float, blocked_by: set[int], app: str = "web") -> LockWait:
    return LockWait(pid, app, frozenset(blocked_by), waited_s, "select 1")


def test_decide_cancels_leaves_a_migration_alone_while_waits_stay_under_the_limit() -> None:
    decision = decide_cancels([wait(1, 0.4, {100}), wait(2, 0.9, {100})], MIGRATION, 1.0)
    assert decision.cancel == {}
    assert decision.worst is not None and decision.worst.pid == 2


def test_decide_cancels_cancels_once_someone_waited_longer_than_max_blocking() -> None:
    decision = decide_cancels([wait(1, 0.4, {100}), wait(2, 1.5, {100}, app="")], MIGRATION, 1.0)
    assert decision.cancel == {
        100: "pid 2 (no application_name) waited 1.5s behind the migration (pid 100), over deploy.max_blocking 1s",
    }


def test_decide_cancels_ignores_waits_that_are_not_behind_the_migration() -> None:
    # pid 3 waits 10s, but for pid 7, not for the migration.
    decision = decide_cancels([wait(3, 10.0, {7})], MIGRATION, 1.0)
    assert decision.cancel == {} and decision.worst is None


def test_decide_cancels_reports_whom_the_migration_itself_waits_for() -> None:
    decision = decide_cancels([wait(100, 5.0, {7, 8}), wait(101, 5.0, {100})], frozenset({100, 101}), 1.0)
    assert decision.migration_waits_for == {7, 8}
    # One migration backend waiting for another is the migration's own business, not a blocked client.
    assert decision.cancel == {} and decision.worst is None


def test_decide_cancels_does_not_cancel_again_right_after_a_cancel() -> None:
    waits = [wait(1, 2.0, {100})]
    assert decide_cancels(waits, MIGRATION, 1.0, last_cancel={100: 10.0}, now=10.2).cancel == {}
    assert 100 in decide_cancels(waits, MIGRATION, 1.0, last_cancel={100: 10.0}, now=10.0 + RECANCEL_AFTER_S).cancel
