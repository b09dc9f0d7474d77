"""The lock sampler against a real PostgreSQL: a session named like the migration tool's takes
locks, commits into a history table the way a tool does, and attribute() turns the trace into
per-migration figures.

No sleep decides an outcome: a migration holds its lock until the sampler has looked several
times (and, for the timing test, for at least half a second), and the tolerances come from the
trace's own tick gaps, so a loaded machine widens the bound instead of failing the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from pgwarden.names import MIGRATE_APPLICATION_NAME, TOOL_HISTORY_TABLES
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.lock_sampler import SAMPLER_APPLICATION_NAME, LockSampler, SamplerTrace
from pgwarden.pipeline.rehearse_measure import MigrateOutcome, attribute
from pgwarden.rehearsal import APPLIED, FAILED, NOT_RUN, RehearsedMigration
from tests.fix_pg import TestDatabase

HISTORY = TOOL_HISTORY_TABLES["sql"]  # a bookkeeping table: left out of every figure


def _done(conn: psycopg.Connection[Any]) -> set[str]:
    return {row[0] for row in conn.execute(f"select name from {HISTORY}").fetchall()}


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def _hold_until_seen(sampler: LockSampler, *, ticks: int = 5, at_least_s: float = 0.0) -> None:
    """Keep the current transaction open until the sampler has looked ``ticks`` more times."""
    since, start = sampler.ticks_taken, time.monotonic()
    _wait_for(lambda: sampler.ticks_taken >= since + ticks and time.monotonic() - start >= at_least_s)


@contextmanager
def _migration_session(db: TestDatabase, name: str = MIGRATE_APPLICATION_NAME) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db.url, autocommit=True, application_name=name) as conn:
        yield conn


def _setup(db: TestDatabase, *tables: str) -> DatabaseTarget:
    db.execute(f"create table {HISTORY} (name text primary key)")
    for table in tables:
        db.execute(f"create table {table} (id int primary key, v int)")
        db.execute(f"insert into {table} select g, g from generate_series(1, 2000) g")
    return DatabaseTarget.from_url(db.url)


def _max_gap(trace: SamplerTrace) -> float:
    return max((b - a for a, b in zip(trace.ticks, trace.ticks[1:], strict=False)), default=trace.interval_s)


def _by_name(records: list[RehearsedMigration]) -> dict[str, RehearsedMigration]:
    return {r.name: r for r in records}


def test_an_access_exclusive_lock_is_measured_within_one_tick(db: TestDatabase) -> None:
    target = _setup(db, "orders", "unrelated")
    with LockSampler(target, interval_s=0.01, done=_done) as sampler, \
            _migration_session(db) as conn, _migration_session(db, "someone-else") as other:
        other.execute("begin")
        other.execute("lock table unrelated in access exclusive mode")  # not the tool: not measured
        conn.execute("begin")
        sent = time.monotonic()
        conn.execute("lock table orders in access exclusive mode")
        acquired = time.monotonic()
        _hold_until_seen(sampler, ticks=10, at_least_s=0.5)
        conn.execute(f"insert into {HISTORY} values ('0001_lock')")
        committing = time.monotonic()
        conn.execute("commit")
        committed = time.monotonic()
        other.execute("rollback")
    trace = sampler.trace
    assert trace is not None and not trace.errors
    [record] = attribute(trace, ["0001_lock"], MigrateOutcome(applied=["0001_lock"]))
    assert record.status == APPLIED
    assert [(lk.table, lk.mode) for lk in record.locks] == [("public.orders", "AccessExclusiveLock")]
    # The stated bound: h ± one tick period, plus the jitter of when in its query a tick looked.
    tolerance = _max_gap(trace) + trace.query_s_max
    held = record.locks[0].held_s
    assert committing - acquired - tolerance <= held <= committed - sent + tolerance, (held, tolerance)
    assert record.duration_s is not None and record.duration_s >= held - tolerance


def test_a_statement_seen_running_has_its_text_time_and_locks(db: TestDatabase) -> None:
    target = _setup(db, "orders")
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn, db.connect() as gate:
        gate.execute("select pg_advisory_lock(7)")  # the statement below runs until the gate opens
        conn.execute("begin")
        worker = threading.Thread(target=conn.execute, args=(
            "lock table orders in access exclusive mode;\n   select pg_advisory_xact_lock(7)",))
        started = time.monotonic()
        worker.start()
        _wait_for(lambda: db.scalar("select count(*) from pg_stat_activity where application_name = %s "
                                    "and wait_event_type = 'Lock'", (MIGRATE_APPLICATION_NAME,)) == 1)
        _hold_until_seen(sampler, ticks=10)
        gate.execute("select pg_advisory_unlock(7)")
        worker.join()
        ended = time.monotonic()
        conn.execute(f"insert into {HISTORY} values ('0001')")
        conn.execute("commit")
    trace = sampler.trace
    assert trace is not None
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    [statement] = record.statements
    assert statement.sql == "lock table orders in access exclusive mode; select pg_advisory_xact_lock(7)"
    tolerance = _max_gap(trace) + trace.query_s_max
    assert statement.duration_s <= ended - started + tolerance
    assert [(lk.table, lk.mode) for lk in statement.locks] == [("public.orders", "AccessExclusiveLock")]


def test_parallel_workers_are_folded_into_their_leader(db: TestDatabase) -> None:
    target = _setup(db, "orders")
    db.execute("create function slow(int) returns int language sql parallel safe as "
               "'select $1 from pg_sleep(0.002)'")
    db.execute("alter table orders set (parallel_workers = 2)")
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn:
        for setting in ("max_parallel_workers_per_gather = 2", "parallel_setup_cost = 0", "parallel_tuple_cost = 0",
                        "min_parallel_table_scan_size = 0"):
            conn.execute("set " + setting)
        leader = conn.info.backend_pid

        def scan() -> None:
            try:
                conn.execute("select count(*) from orders where slow(id) > 0")
            except psycopg.errors.QueryCanceled:
                pass

        worker = threading.Thread(target=scan)
        worker.start()
        deadline = time.monotonic() + 10
        while not db.scalar("select count(*) from pg_stat_activity where leader_pid = %s and pid <> %s",
                            (leader, leader)):
            if time.monotonic() > deadline or not worker.is_alive():
                db.execute("select pg_cancel_backend(%s)", (leader,))
                worker.join()
                pytest.skip("the server started no parallel worker for the scan")
            time.sleep(0.002)
        _hold_until_seen(sampler)
        db.execute("select pg_cancel_backend(%s)", (leader,))
        worker.join()
        conn.execute(f"insert into {HISTORY} values ('0001')")
    assert sampler.trace is not None
    assert {run.pid for run in sampler.trace.locks} == {leader}
    [record] = attribute(sampler.trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert [s.sql for s in record.statements] == ["select count(*) from orders where slow(id) > 0"]


def test_the_sampler_session_is_named_and_matches_run_suffixed_sessions(db: TestDatabase) -> None:
    target = _setup(db, "orders")
    with LockSampler(target, done=_done) as sampler:
        assert db.scalar("select count(*) from pg_stat_activity where application_name = %s",
                         (SAMPLER_APPLICATION_NAME,)) == 1
        with _migration_session(db, MIGRATE_APPLICATION_NAME + "-run42") as conn, conn.transaction():
            conn.execute("lock table orders in share mode")
            _hold_until_seen(sampler)
            conn.execute(f"insert into {HISTORY} values ('0001')")
    assert sampler.trace is not None
    [record] = attribute(sampler.trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert [(lk.table, lk.mode) for lk in record.locks] == [("public.orders", "ShareLock")]


def test_a_column_type_change_is_a_rewrite_and_a_new_table_is_not(db: TestDatabase) -> None:
    target = _setup(db, "orders")
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn:
        with conn.transaction():
            conn.execute("create table fresh (id int, v int)")
            conn.execute("alter table fresh alter column v type bigint")
            conn.execute("alter table orders alter column v type bigint")
            _hold_until_seen(sampler)
            conn.execute(f"insert into {HISTORY} values ('0002_types')")
    assert sampler.trace is not None
    [record] = attribute(sampler.trace, ["0002_types"], MigrateOutcome(applied=["0002_types"]))
    assert record.rewritten == ["public.orders"]
    modes = {lk.table: lk.mode for lk in record.locks}
    # The new table is named once its migration committed; its index (the primary key) maps to it.
    assert modes == {"public.orders": "AccessExclusiveLock", "public.fresh": "AccessExclusiveLock"}
    assert record.rows_written is not None and record.wal_bytes is not None and record.wal_bytes > 0


def test_two_migrations_are_split_at_the_commit_between_them(db: TestDatabase) -> None:
    target = _setup(db, "first_t", "second_t")
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn:
        with conn.transaction():
            conn.execute("lock table first_t in access exclusive mode")
            _hold_until_seen(sampler)
            conn.execute(f"insert into {HISTORY} values ('0001')")
        with conn.transaction():
            conn.execute("update second_t set v = v + 1")
            _hold_until_seen(sampler)
            conn.execute(f"insert into {HISTORY} values ('0002')")
    assert sampler.trace is not None
    records = _by_name(attribute(sampler.trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"])))
    assert [(lk.table, lk.mode) for lk in records["0001"].locks] == [("public.first_t", "AccessExclusiveLock")]
    assert [(lk.table, lk.mode) for lk in records["0002"].locks] == [("public.second_t", "RowExclusiveLock")]
    assert records["0001"].measured_with == [] and records["0002"].measured_with == []
    assert records["0001"].rewritten == [] and records["0002"].rewritten == []
    # counted once the backend flushed its counters (at the latest as it exits): the history's row left out
    assert (records["0001"].rows_written, records["0002"].rows_written) == (0, 2000)


def test_a_history_written_after_the_commit_still_splits_at_the_commit(db: TestDatabase) -> None:
    # Laravel commits a migration, then logs it in the history in a statement of its own.
    target = _setup(db, "first_t", "second_t")
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn:
        with conn.transaction():
            conn.execute("lock table first_t in access exclusive mode")
            _hold_until_seen(sampler)
        polls = sampler.done_polls
        _wait_for(lambda: sampler.done_polls > polls + 1)  # looked at the history: not there yet
        conn.execute(f"insert into {HISTORY} values ('0001')")
        with conn.transaction():
            conn.execute("lock table second_t in access exclusive mode")
            _hold_until_seen(sampler, ticks=10, at_least_s=2 * sampler.done_every_s)
        conn.execute(f"insert into {HISTORY} values ('0002')")
    assert sampler.trace is not None
    records = _by_name(attribute(sampler.trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"])))
    assert [lk.table for lk in records["0001"].locks] == ["public.first_t"]
    assert [lk.table for lk in records["0002"].locks] == ["public.second_t"]


def test_a_slow_history_read_is_asked_less_often_and_still_splits_at_the_commit(db: TestDatabase) -> None:
    def slow_done(conn: psycopg.Connection[Any]) -> set[str]:
        time.sleep(0.03)  # like a tool whose history needs a subprocess: slower than a tick
        return _done(conn)

    target = _setup(db, "first_t", "second_t")
    with LockSampler(target, interval_s=0.01, done=slow_done) as sampler, _migration_session(db) as conn:
        with conn.transaction():
            conn.execute("lock table first_t in access exclusive mode")
            _hold_until_seen(sampler, ticks=30)
            conn.execute(f"insert into {HISTORY} values ('0001')")
        with conn.transaction():
            conn.execute("lock table second_t in access exclusive mode")
            _hold_until_seen(sampler, ticks=30)
            conn.execute(f"insert into {HISTORY} values ('0002')")
    trace = sampler.trace
    assert trace is not None
    assert trace.done_polls <= len(trace.ticks) / 3, (trace.done_polls, len(trace.ticks))
    records = _by_name(attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"])))
    assert [lk.table for lk in records["0001"].locks] == ["public.first_t"]
    assert [lk.table for lk in records["0002"].locks] == ["public.second_t"]


def test_a_failed_migration_keeps_its_locks_and_later_ones_do_not_run(db: TestDatabase) -> None:
    target = _setup(db, "orders")
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn:
        conn.execute("begin")
        conn.execute("lock table orders in access exclusive mode")
        _hold_until_seen(sampler)
        try:
            conn.execute("alter table orders add constraint positive check (v < 0)")
        except psycopg.errors.CheckViolation:
            pass
        conn.execute("rollback")
    assert sampler.trace is not None
    outcome = MigrateOutcome(applied=[], failed="0001_check", error="check constraint is violated", sqlstate="23514")
    failed, later = attribute(sampler.trace, ["0001_check", "0002_later"], outcome)
    assert (failed.status, failed.sqlstate, failed.error) == (FAILED, "23514", "check constraint is violated")
    assert [(lk.table, lk.mode) for lk in failed.locks] == [("public.orders", "AccessExclusiveLock")]
    assert failed.rewritten == [] and failed.duration_s is not None and failed.duration_s > 0
    assert (later.status, later.duration_s, later.locks) == (NOT_RUN, None, [])


def test_a_history_that_cannot_be_read_yet_breaks_nothing(db: TestDatabase) -> None:
    db.execute("create table orders (id int)")
    target = DatabaseTarget.from_url(db.url)
    with LockSampler(target, done=_done) as sampler, _migration_session(db) as conn:
        with conn.transaction():  # the tool creates its history table in its first migration
            conn.execute(f"create table {HISTORY} (name text primary key)")
            conn.execute("lock table orders in exclusive mode")
            _hold_until_seen(sampler)
            conn.execute(f"insert into {HISTORY} values ('0001')")
    trace = sampler.trace
    assert trace is not None
    assert any(e.startswith("reading the history:") for e in trace.errors)
    assert [b.names for b in trace.boundaries] == [frozenset({"0001"})]
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert [(lk.table, lk.mode) for lk in record.locks] == [("public.orders", "ExclusiveLock")]
