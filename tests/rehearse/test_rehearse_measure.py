"""attribute(): hand-made sampler traces turned into per-migration figures (no database)."""

from __future__ import annotations

import pytest

from pgwarden.pg.lock_sampler import Boundary, CatalogSnapshot, LockRun, SamplerTrace, StatementRun
from pgwarden.pipeline.rehearse_measure import MigrateOutcome, attribute
from pgwarden.redact import MASK, register_secret
from pgwarden.rehearsal import APPLIED, FAILED, NOT_RUN, LockHeld

AEL, SHARE, ROW_EXCL, ACCESS_SHARE = "AccessExclusiveLock", "ShareLock", "RowExclusiveLock", "AccessShareLock"
ORDERS, USERS, HISTORY, ORDERS_PKEY = 100, 200, 300, 101


def _snap(t: float = 0.0, *, nodes: dict[int, int] | None = None, rows: dict[int, int] | None = None,
          wal: int | None = 1000, extra: dict[int, tuple[str, int]] | None = None) -> CatalogSnapshot:
    nodes = {ORDERS: 1, USERS: 2, HISTORY: 3, **(nodes or {})}
    names = {ORDERS: "public.orders", USERS: "public.users", HISTORY: "public.pgwarden_migrations"}
    tables = {oid: (names[oid], node) for oid, node in nodes.items() if oid in names}
    tables.update(extra or {})
    return CatalogSnapshot(t, tables, {ORDERS_PKEY: ORDERS}, wal, rows or {})


def _trace(ticks: int = 100, *, interval: float = 0.01, locks: list[LockRun] | None = None,
           boundaries: list[Boundary] | None = None, final: CatalogSnapshot | None = None,
           busy: tuple[int, int] | None = (0, 99), statements: list[StatementRun] | None = None,
           baseline: CatalogSnapshot | None = None) -> SamplerTrace:
    return SamplerTrace(
        interval_s=interval, started_t=0.0, stopped_t=ticks * interval,
        ticks=[i * interval for i in range(ticks)], locks=locks or [], statements=statements or [],
        baseline=baseline if baseline is not None else _snap(), boundaries=boundaries or [],
        final=final if final is not None else _snap(),
        busy_first=busy[0] if busy else None, busy_last=busy[1] if busy else None,
    )


def _run(relation: int, mode: str, first: int, last: int, *, pid: int = 1, tx: str = "3/1") -> LockRun:
    return LockRun(pid, tx, relation, mode, first, last)


def _locks(record: object) -> list[tuple[str, str, float]]:
    return [(lk.table, lk.mode, round(lk.held_s, 6)) for lk in record.locks]  # type: ignore[attr-defined]


def test_with_regular_ticks_a_lock_is_held_from_first_to_last_sight_plus_one_interval() -> None:
    trace = _trace(locks=[_run(ORDERS, AEL, 10, 59)])
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert _locks(record) == [("public.orders", AEL, 0.5)]


def test_with_irregular_ticks_each_end_is_the_middle_of_its_gap() -> None:
    trace = _trace(4, locks=[_run(ORDERS, AEL, 1, 2)], busy=(0, 3))
    trace.ticks[:] = [0.0, 0.1, 0.3, 0.7]
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    # taken between 0.0 and 0.1 (say 0.05), released between 0.3 and 0.7 (say 0.5)
    assert _locks(record) == [("public.orders", AEL, 0.45)]


def test_per_table_the_strongest_mode_counts_and_indexes_stand_for_their_table() -> None:
    trace = _trace(locks=[
        _run(ORDERS, ACCESS_SHARE, 0, 89),
        _run(ORDERS_PKEY, AEL, 20, 29),            # e.g. REINDEX: the index's lock is the table's
        _run(ORDERS, AEL, 40, 49, pid=2, tx="4/1"),  # another session of the tool, adjacent runs merge
        _run(ORDERS, AEL, 50, 59, pid=2, tx="4/1"),
        _run(USERS, SHARE, 0, 99),
        _run(HISTORY, ROW_EXCL, 0, 99),            # the tool's history: bookkeeping, left out
        _run(999, AEL, 0, 99),                     # never committed (created and rolled back): unknown
    ])
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert _locks(record) == [("public.orders", AEL, 0.3), ("public.users", SHARE, 1.0)]


def test_locks_are_sorted_strongest_first_then_longest() -> None:
    extra = {400: ("public.a", 4), 500: ("public.b", 5)}
    trace = _trace(locks=[_run(400, AEL, 0, 9), _run(500, AEL, 0, 49), _run(USERS, SHARE, 0, 99)],
                   baseline=_snap(extra=extra), final=_snap(extra=extra))
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert [lk.table for lk in record.locks] == ["public.b", "public.a", "public.users"]


def test_a_boundary_splits_the_spans_and_clips_what_crosses_it() -> None:
    after_first = _snap(0.5, rows={ORDERS: 10}, wal=5000)
    trace = _trace(
        locks=[_run(ORDERS, AEL, 10, 59), _run(USERS, ROW_EXCL, 45, 89, tx="3/2")],
        boundaries=[Boundary(50, frozenset({"0001"}), after_first)],
        final=_snap(1.0, rows={ORDERS: 10, USERS: 7}, wal=9000), busy=(10, 89),
    )
    first, second = attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"]))
    assert _locks(first) == [("public.orders", AEL, 0.4), ("public.users", ROW_EXCL, 0.05)]
    assert _locks(second) == [("public.orders", AEL, 0.1), ("public.users", ROW_EXCL, 0.4)]
    # 0001 from the first busy tick (0.095) to the boundary (0.495); 0002 from there to after 89 (0.895)
    assert (first.duration_s, second.duration_s) == (pytest.approx(0.4), pytest.approx(0.4))
    assert (first.rows_written, second.rows_written) == (10, 7)
    assert (first.wal_bytes, second.wal_bytes) == (4000, 4000)
    assert first.measured_with == second.measured_with == []


def test_the_first_span_starts_when_a_tool_backend_is_first_busy_not_at_the_sampler_start() -> None:
    trace = _trace(boundaries=[Boundary(80, frozenset({"0001"}), _snap())], busy=(30, 79))
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert record.duration_s == pytest.approx(0.5)


def test_names_committed_at_one_boundary_share_the_span() -> None:
    trace = _trace(locks=[_run(ORDERS, AEL, 0, 49)],
                   boundaries=[Boundary(60, frozenset({"0002", "0001"}), _snap(nodes={ORDERS: 11}))],
                   final=_snap(nodes={ORDERS: 11}))
    one, two, three = attribute(trace, ["0001", "0002", "0003"], MigrateOutcome(applied=["0001", "0002", "0003"]))
    assert one.measured_with == ["0002"] and two.measured_with == ["0001"]
    assert _locks(one) == _locks(two) == [("public.orders", AEL, 0.5)]
    assert one.rewritten == two.rewritten == ["public.orders"]
    assert one.duration_s == two.duration_s
    # 0003 was applied but the history never showed it: it has the rest of the run to itself
    assert three.status == APPLIED and three.measured_with == [] and three.rewritten == []


def test_a_name_shown_finished_takes_the_earlier_ones_the_history_did_not_show() -> None:
    # Alembic's history holds only the head: 0001 and 0002 committed with 0003 (one transaction)
    trace = _trace(locks=[_run(ORDERS, AEL, 0, 49)], boundaries=[Boundary(60, frozenset({"0003"}), _snap())])
    records = attribute(trace, ["0001", "0002", "0003"], MigrateOutcome(applied=["0001", "0002", "0003"]))
    assert [r.measured_with for r in records] == [["0002", "0003"], ["0001", "0003"], ["0001", "0002"]]
    assert all(_locks(r) == [("public.orders", AEL, 0.5)] for r in records)


def test_applied_names_the_history_never_showed_share_one_span() -> None:
    trace = _trace(locks=[_run(ORDERS, AEL, 0, 99)])
    one, two = attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"]))
    assert (one.measured_with, two.measured_with) == (["0002"], ["0001"])
    assert one.duration_s == pytest.approx(1.0) and _locks(one) == [("public.orders", AEL, 1.0)]


def test_a_boundary_naming_only_what_this_run_did_not_apply_moves_nothing() -> None:
    trace = _trace(locks=[_run(ORDERS, AEL, 0, 99)],
                   boundaries=[Boundary(30, frozenset({"older"}), _snap())])
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert _locks(record) == [("public.orders", AEL, 1.0)]


def test_the_failed_one_ends_when_the_tool_was_last_busy_and_later_ones_did_not_run() -> None:
    trace = _trace(locks=[_run(USERS, ROW_EXCL, 5, 19), _run(ORDERS, AEL, 25, 39, tx="3/2")],
                   boundaries=[Boundary(20, frozenset({"0001"}), _snap(0.2, nodes={USERS: 22}))],
                   final=_snap(1.0, nodes={USERS: 22}), busy=(5, 39))
    outcome = MigrateOutcome(applied=["0001"], failed="0002", error="could not create unique index", sqlstate="23505")
    ok, failed, later = attribute(trace, ["0001", "0002", "0003"], outcome)
    assert (ok.status, ok.rewritten, ok.error) == (APPLIED, ["public.users"], None)
    assert (failed.status, failed.error, failed.sqlstate) == (FAILED, "could not create unique index", "23505")
    assert failed.duration_s == pytest.approx(0.2) and _locks(failed) == [("public.orders", AEL, 0.15)]
    assert failed.rewritten == []  # rolled back: the final snapshot has the storage of before
    assert later == type(later)(name="0003", status=NOT_RUN, duration_s=None)


def test_a_failure_before_anything_was_seen_takes_no_time() -> None:
    trace = _trace(boundaries=[Boundary(50, frozenset({"0001"}), _snap())], busy=(10, 49))
    _ok, failed = attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001"], failed="0002", error="x"))
    assert failed.status == FAILED and failed.duration_s == 0.0 and failed.locks == []


def test_rewrites_are_storage_changes_of_tables_that_existed_before() -> None:
    fresh = {600: ("public.fresh", 60)}
    parted = {700: ("public.parted", 0)}
    trace = _trace(baseline=_snap(extra=parted),
                   final=_snap(nodes={ORDERS: 10, HISTORY: 30}, extra={**fresh, **parted}))
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert record.rewritten == ["public.orders"]  # not the new table, not the history, not a partitioned parent


def test_rows_and_wal_are_deltas_without_the_bookkeeping_and_none_without_snapshots() -> None:
    trace = _trace(baseline=_snap(rows={ORDERS: 5, HISTORY: 9}, wal=100),
                   final=_snap(rows={ORDERS: 305, HISTORY: 10, USERS: 3}, wal=8292))
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert (record.rows_written, record.wal_bytes) == (303, 8192)
    trace.baseline = None
    trace.final = None
    [blind] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert (blind.rows_written, blind.wal_bytes, blind.rewritten) == (None, None, [])
    assert _locks(blind) == []  # nothing to name the relations with


def test_a_standby_has_no_wal_position() -> None:
    trace = _trace(baseline=_snap(wal=None))
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert record.wal_bytes is None


def test_statements_have_their_text_time_and_own_locks() -> None:
    register_secret("S3cretPassw0rd")
    long_sql = "update orders\n   set note = 'S3cretPassw0rd',\tv = v + 1 " + "where id > 0 " * 40
    trace = _trace(
        locks=[_run(ORDERS, ROW_EXCL, 20, 99), _run(USERS, SHARE, 70, 79, pid=2, tx="4/1")],
        statements=[StatementRun(1, "alter table users add column x int", 0.65, 70, 74),
                    StatementRun(1, long_sql, 0.195, 20, 59),
                    StatementRun(1, "create type mood as enum ('ok')", 0.01, 0, 0)],
        boundaries=[Boundary(10, frozenset({"0001"}), _snap())], busy=(0, 99),
    )
    _first, second = attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"]))
    update, alter = second.statements
    assert update.sql.startswith(f"update orders set note = '{MASK}', v = v + 1 where id > 0")
    assert len(update.sql) == 200
    # started 0.195 (its age said so), last seen at tick 59, gone at 60: ended at 0.595
    assert update.duration_s == pytest.approx(0.4)
    assert update.locks == [LockHeld("public.orders", ROW_EXCL, pytest.approx(0.4))]
    # only its own session's locks while it ran; its age says 0.65, but tick 69 (0.69) did not see it
    assert alter.locks == [LockHeld("public.orders", ROW_EXCL, pytest.approx(0.05))]
    assert alter.duration_s == pytest.approx(0.055)
    assert [s.sql for s in _first.statements] == ["create type mood as enum ('ok')"]


def test_a_sampler_that_saw_nothing_still_gives_one_record_per_name() -> None:
    trace = SamplerTrace(interval_s=0.01, started_t=5.0, stopped_t=6.0, errors=["connection lost"])
    records = attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001"], failed="0002", error="boom"))
    assert [(r.name, r.status, r.locks) for r in records] == [("0001", APPLIED, []), ("0002", FAILED, [])]
    assert all(r.duration_s == 0.0 and r.rows_written is None for r in records)


def test_rows_flushed_late_go_back_to_the_migration_that_held_the_write_lock() -> None:
    # 0001 updates orders (ROW EXCLUSIVE) but its backend flushes the counters during 0002 (an
    # ALTER: no ROW EXCLUSIVE) or 0003; users is written by 0001 and by 0003, so what shows in
    # 0003 stays there; a table no span wrote keeps its rows where they showed.
    extra = {800: ("public.audit_trail", 8)}
    trace = _trace(
        locks=[_run(ORDERS, ROW_EXCL, 0, 29), _run(USERS, ROW_EXCL, 0, 29),
               _run(ORDERS, AEL, 30, 59, tx="3/2"), _run(USERS, ROW_EXCL, 60, 89, tx="3/3")],
        baseline=_snap(extra=extra),
        boundaries=[Boundary(30, frozenset({"0001"}), _snap(rows={USERS: 4}, extra=extra)),
                    Boundary(60, frozenset({"0002"}), _snap(rows={ORDERS: 300, USERS: 4}, extra=extra))],
        final=_snap(rows={ORDERS: 300, USERS: 10, 800: 2}, extra=extra),
    )
    one, two, three = attribute(trace, ["0001", "0002", "0003"], MigrateOutcome(applied=["0001", "0002", "0003"]))
    assert (one.rows_written, two.rows_written, three.rows_written) == (304, 0, 8)


def test_the_tools_plumbing_is_not_a_statement_but_a_script_is() -> None:
    plumbing = ["BEGIN", "COMMIT;", "  rollback", "SET lock_timeout = '5s'", "show server_version",
                'insert into "pgwarden_migrations" (name, checksum) values ($1, $2) on conflict do nothing',
                'create table if not exists "pgwarden_migrations" (name text primary key)',
                "SELECT migration_name FROM public._prisma_migrations", "update alembic_version set version_num='b'",
                "SELECT tbl.relname AS table_name, namespace.nspname FROM pg_class tbl JOIN pg_namespace namespace"]
    kept = ["BEGIN; ALTER TABLE orders ADD COLUMN x int; COMMIT;", "SET lock_timeout = 0;\nALTER TABLE orders DROP x",
            "alter table orders add column migrations int", "update orders set v = 1",
            "select count(*) from orders"]  # a select holding a lock on a user table stays
    statements = plumbing + kept
    trace = _trace(statements=[StatementRun(1, sql, i / 100, i, i) for i, sql in enumerate(statements)],
                   locks=[_run(ORDERS, ACCESS_SHARE, len(statements) - 1, len(statements) - 1)])
    [record] = attribute(trace, ["0001"], MigrateOutcome(applied=["0001"]))
    assert [s.sql for s in record.statements] == [" ".join(sql.split()) for sql in kept]


def test_rows_flushed_after_the_last_boundary_still_count() -> None:
    trace = _trace(locks=[_run(ORDERS, ROW_EXCL, 0, 29), _run(USERS, ROW_EXCL, 40, 59, tx="3/2")],
                   boundaries=[Boundary(30, frozenset({"0001"}), _snap()), Boundary(60, frozenset({"0002"}), _snap())],
                   final=_snap(rows={ORDERS: 7, USERS: 2000}))
    one, two = attribute(trace, ["0001", "0002"], MigrateOutcome(applied=["0001", "0002"]))
    assert (one.rows_written, two.rows_written) == (7, 2000)
