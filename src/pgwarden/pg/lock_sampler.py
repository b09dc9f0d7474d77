"""The rehearsal's lock sampler: which tables the migration's sessions held locks on, and when.

:class:`LockSampler` polls, on its own connection to the scratch database, the granted relation
locks of the migration tool's backends (``application_name`` ``pgwarden-migrate`` or
``pgwarden-migrate-<run>``) with the statement each backend runs, every ``interval_s``. It keeps
runs, not samples: a lock seen on consecutive ticks is one :class:`LockRun` (first and last
tick), so a long migration costs memory per lock, not per tick.

Where one migration ends and the next begins comes from the tool's own history, through the
injected ``done(conn)`` (the names it shows finished; pg cannot import tools). It is asked every
``done_every_s`` and right after a tick on which a migration transaction ended, so a commit lands
on the tick it happened at. When the set grows, one REPEATABLE READ transaction re-reads it and
snapshots the catalog (:class:`CatalogSnapshot`: relfilenodes, WAL position, row counters), so
the names and the state they describe agree. Turning the trace into per-migration figures is
:func:`pgwarden.pipeline.rehearse_measure.attribute`, a pure function.

The sampler never takes a lock on a user table (only catalogs, statistics and ``done``'s read of
the history table, under a 100 ms lock_timeout): the deploy's watchdog cancels a migration that
someone waits behind, and the sampler must never be that someone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgwarden.names import MIGRATE_APPLICATION_NAME, QualifiedName
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.redact import redact

#: ``application_name`` of the sampler's own session.
SAMPLER_APPLICATION_NAME = "pgwarden-rehearse-sampler"

#: The tool's history, read on the sampler's connection: the names it shows finished.
DoneReader = Callable[["psycopg.Connection[Any]"], Iterable[str]]

# One tick: every backend of the tool, with each granted lock on a relation of this database
# (no lock: one row with a null relation, so a busy backend without locks still counts). Parallel
# workers carry their leader's application_name; the leader holds their locks and runs the statement.
_TICK_SQL = """
select a.pid, coalesce(a.state, ''), l.virtualtransaction, l.relation::int8, l.mode,
       left(coalesce(a.query, ''), 400),
       extract(epoch from clock_timestamp() - a.query_start)::float8,
       extract(epoch from a.query_start)::float8
from pg_stat_activity a
left join pg_locks l on l.pid = a.pid and l.locktype = 'relation' and l.granted and l.database = a.datid
where a.datname = current_database() and a.pid <> pg_backend_pid() and a.backend_type = 'client backend'
  and (a.application_name = any(%s) or a.application_name like any(%s))
"""

_SCHEMAS = ("n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%%' "
            "and n.nspname not like 'pg\\_temp%%'")
_TABLES_SQL = ("select c.oid::int8, n.nspname, c.relname, c.relfilenode::int8 from pg_class c "
               "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p', 'm') and " + _SCHEMAS)
_INDEXES_SQL = ("select i.indexrelid::int8, i.indrelid::int8 from pg_index i join pg_class c on c.oid = i.indrelid "
                "join pg_namespace n on n.oid = c.relnamespace where " + _SCHEMAS)
_ROWS_SQL = "select relid::int8, (n_tup_ins + n_tup_upd + n_tup_del)::int8 from pg_stat_user_tables"
_WAL_SQL = "select case when pg_is_in_recovery() then null else (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8 end"

#: How long, after the run, the sampler waits for the tool's backends to exit (and so flush their
#: row counters to pg_stat_user_tables) before it reads the final state.
EXIT_WAIT_S = 2.0

#: States of a backend that is doing something (an idle session between migrations is not).
_BUSY_STATES = frozenset({"active", "idle in transaction", "idle in transaction (aborted)", "fastpath function call"})


@dataclass(frozen=True)
class LockRun:
    """One granted lock seen on consecutive ticks ``first`` .. ``last`` (indexes into the ticks)."""

    pid: int
    #: ``pg_locks.virtualtransaction``: the transaction holding it.
    transaction: str
    relation: int
    mode: str
    first: int
    last: int


@dataclass(frozen=True)
class StatementRun:
    """One statement seen running (``state = active``) on ticks ``first`` .. ``last``."""

    pid: int
    #: As pg_stat_activity showed it (first 400 characters), not yet collapsed or redacted.
    sql: str
    #: When it started, on the sampler's clock: the first sample's time minus the statement's age.
    started_t: float
    first: int
    last: int


@dataclass(frozen=True)
class CatalogSnapshot:
    """The committed state of the scratch database at one moment."""

    t: float
    #: Table, partitioned table or materialized view oid -> (qualified name, relfilenode).
    tables: Mapping[int, tuple[str, int]]
    #: Index oid -> its table's oid.
    indexes: Mapping[int, int]
    #: pg_current_wal_lsn() in bytes (server-wide); None on a standby.
    wal_lsn: int | None
    #: Table oid -> n_tup_ins + n_tup_upd + n_tup_del.
    rows: Mapping[int, int]


@dataclass(frozen=True)
class Boundary:
    """The tool's history showed ``names`` finished; their span ends before tick ``tick``."""

    tick: int
    names: frozenset[str]
    #: The state right after they committed.
    snapshot: CatalogSnapshot


@dataclass
class SamplerTrace:
    """What the sampler saw. Times are ``time.monotonic()`` seconds."""

    interval_s: float
    started_t: float
    stopped_t: float = 0.0
    #: When each tick's sample query was sent.
    ticks: list[float] = field(default_factory=list)
    locks: list[LockRun] = field(default_factory=list)
    statements: list[StatementRun] = field(default_factory=list)
    #: Before any migration finished (None: the sampler could not read the catalog).
    baseline: CatalogSnapshot | None = None
    boundaries: list[Boundary] = field(default_factory=list)
    #: After the run (None: the sampler lost its connection first).
    final: CatalogSnapshot | None = None
    #: First and last tick on which a migration backend was busy (None: never seen).
    busy_first: int | None = None
    busy_last: int | None = None
    #: Names the history already showed at the start (applied before the rehearsal).
    done_before: frozenset[str] = frozenset()
    done_polls: int = 0
    #: Time spent in the tick queries (sum, longest): the sampling's own cost and jitter.
    query_s_total: float = 0.0
    query_s_max: float = 0.0
    #: Time spent reading the history (``done``), summed.
    done_s_total: float = 0.0
    #: CPU of the sampler's thread in this process.
    client_cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def snapshots(self) -> list[CatalogSnapshot]:
        """Every snapshot in time order."""
        found = [self.baseline] if self.baseline is not None else []
        found += [b.snapshot for b in self.boundaries]
        return found + ([self.final] if self.final is not None else [])


def _like_escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class LockSampler:
    """Sample the migration sessions' relation locks on ``target`` until :meth:`stop`.

    Use as a context manager around the migration run; read :attr:`trace` afterwards.
    """

    def __init__(
        self,
        target: DatabaseTarget,
        *,
        app_names: Sequence[str] = (MIGRATE_APPLICATION_NAME,),
        interval_s: float = 0.01,
        done: DoneReader | None = None,
        done_every_s: float = 0.05,
    ) -> None:
        self.target = target
        self.interval_s = interval_s
        self.done = done
        self.done_every_s = done_every_s
        self._params = (list(app_names), [_like_escape(name) + "-%" for name in app_names])
        self.trace: SamplerTrace | None = None
        self._building = SamplerTrace(interval_s=interval_s, started_t=time.monotonic())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._open_locks: dict[tuple[int, str, int, str], int] = {}
        self._open_statements: dict[tuple[int, float], tuple[int, str, float]] = {}
        self._done_seen: set[str] = set()
        self._done_failed = False
        self._last_done_t = 0.0
        self._done_cost_s = 0.0
        self._backends_seen = 0
        self._last_end_tick: int | None = None

    @property
    def backend_pid(self) -> int | None:
        """The sampler session's server pid (while it runs), for measuring its cost."""
        return self._conn.info.backend_pid if self._conn is not None else None

    @property
    def ticks_taken(self) -> int:
        """How many looks at pg_locks so far (tests wait on it instead of sleeping)."""
        return len(self._building.ticks)

    @property
    def done_polls(self) -> int:
        """How many times the history was read so far."""
        return self._building.done_polls

    def start(self) -> None:
        self._conn = connect(self.target, application_name=SAMPLER_APPLICATION_NAME)
        self._conn.execute("set lock_timeout = '100ms'")
        self._conn.execute("set statement_timeout = '5s'")
        trace = self._building = SamplerTrace(interval_s=self.interval_s, started_t=time.monotonic())
        try:
            done, trace.baseline = self._consistent_read(self._conn)
        except psycopg.Error as exc:
            trace.errors.append(redact(str(exc).strip()))
            done = set()
        self._done_seen = set(done)
        trace.done_before = frozenset(done)
        self._last_done_t = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="pgwarden-lock-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> SamplerTrace:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._building.stopped_t = time.monotonic()
        self.trace = self._building
        return self.trace

    def __enter__(self) -> LockSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        trace = self._building
        cpu_start = time.thread_time()
        try:
            while not self._stop.is_set():
                sent = self._tick(conn)
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - sent)))
            # The run has returned. Its backends flush their row counters as they exit: give them
            # until they are gone (at most EXIT_WAIT_S), then read the state after the run.
            deadline = time.monotonic() + EXIT_WAIT_S
            self._tick(conn)
            while self._backends_seen and time.monotonic() < deadline:
                time.sleep(self.interval_s)
                self._tick(conn)
            self._poll_done(conn, force=True)
            trace.final = self._snapshot(conn)
        except psycopg.Error as exc:
            # A broken sampler must not break the rehearsal: the migrations still run and report.
            trace.errors.append(redact(str(exc).strip()))
        finally:
            trace.client_cpu_s = time.thread_time() - cpu_start

    def _tick(self, conn: psycopg.Connection[Any]) -> float:
        trace = self._building
        sent = time.monotonic()
        rows = conn.execute(_TICK_SQL, self._params, prepare=True).fetchall()
        took = time.monotonic() - sent
        trace.query_s_total += took
        trace.query_s_max = max(trace.query_s_max, took)
        tick = len(trace.ticks)
        trace.ticks.append(sent)
        ended = self._record(tick, sent, rows)
        self._backends_seen = len({row[0] for row in rows})
        if ended:
            self._last_end_tick = tick
        if self.done is not None:
            # A slow history read (a subprocess, a big table) is asked less often: ticks keep pace.
            cheap = self._done_cost_s <= self.interval_s
            due = sent - self._last_done_t >= max(self.done_every_s, 10 * self._done_cost_s)
            if (ended and cheap) or due:
                self._poll_done(conn, force=False)
        return sent

    def _record(self, tick: int, sent: float, rows: Iterable[tuple[Any, ...]]) -> bool:
        """Extend or close the runs; True when a transaction seen on the last tick is gone."""
        trace = self._building
        locks: set[tuple[int, str, int, str]] = set()
        statements: dict[tuple[int, float], tuple[str, float]] = {}
        busy = False
        for pid, state, vxid, relation, mode, query, age, query_start in rows:
            if relation is not None:
                locks.add((pid, vxid, relation, mode))
            if state in _BUSY_STATES or relation is not None:
                busy = True
            if state == "active" and query_start is not None:
                statements[(pid, query_start)] = (query, sent - max(0.0, age or 0.0))
        if busy:
            if trace.busy_first is None:
                trace.busy_first = tick
            trace.busy_last = tick
        before = {key[1] for key in self._open_locks}
        for key in [k for k in self._open_locks if k not in locks]:
            trace.locks.append(LockRun(key[0], key[1], key[2], key[3], self._open_locks.pop(key), tick - 1))
        for key in locks:
            self._open_locks.setdefault(key, tick)
        for skey in [k for k in self._open_statements if k not in statements]:
            first, sql, started = self._open_statements.pop(skey)
            trace.statements.append(StatementRun(skey[0], sql, started, first, tick - 1))
        for skey, (sql, started) in statements.items():
            self._open_statements.setdefault(skey, (tick, sql, started))
        return bool(before - {key[1] for key in locks})

    def _close_runs(self) -> None:
        trace = self._building
        last = len(trace.ticks) - 1
        for key, first in self._open_locks.items():
            trace.locks.append(LockRun(key[0], key[1], key[2], key[3], first, last))
        for skey, (first, sql, started) in self._open_statements.items():
            trace.statements.append(StatementRun(skey[0], sql, started, first, last))
        self._open_locks.clear()
        self._open_statements.clear()

    def _poll_done(self, conn: psycopg.Connection[Any], *, force: bool) -> None:
        trace = self._building
        if force:
            self._close_runs()
        if self.done is None:
            return
        trace.done_polls += 1
        self._last_done_t = time.monotonic()
        names = self._read_done(conn)
        self._done_cost_s = time.monotonic() - self._last_done_t
        trace.done_s_total += self._done_cost_s
        ticks = len(trace.ticks)
        if names is not None and not names <= self._done_seen:
            names, snapshot = self._consistent_read(conn)
            new = frozenset(names - self._done_seen)
            if new:
                # The commit ended the last transaction seen ending since the previous boundary (a
                # tool may write its history just after the commit, as Laravel does); none seen:
                # it happened since the last look.
                end, previous = self._last_end_tick, trace.boundaries[-1].tick if trace.boundaries else -1
                tick = end if end is not None and end > previous else ticks
                trace.boundaries.append(Boundary(tick, new, snapshot))
                self._done_seen |= new

    def _read_done(self, conn: psycopg.Connection[Any], *, in_block: bool = False) -> set[str] | None:
        """``done(conn)``, or None when it failed (no history table yet: nothing new)."""
        assert self.done is not None
        try:
            if in_block:
                with conn.transaction():  # a savepoint: a failure leaves the snapshot's transaction usable
                    return set(self.done(conn))
            return set(self.done(conn))
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            if not self._done_failed:
                self._done_failed = True
                self._building.errors.append("reading the history: " + redact(str(exc).strip()))
            return None

    def _consistent_read(self, conn: psycopg.Connection[Any]) -> tuple[set[str], CatalogSnapshot]:
        """The history's names and the catalog state, read in one snapshot."""
        with conn.transaction():
            conn.execute("set transaction isolation level repeatable read")
            names = (self._read_done(conn, in_block=True) or set()) if self.done is not None else set()
            return names, self._snapshot(conn)

    def _snapshot(self, conn: psycopg.Connection[Any]) -> CatalogSnapshot:
        t = time.monotonic()
        tables = {oid: (QualifiedName(schema, name).text, node)
                  for oid, schema, name, node in conn.execute(_TABLES_SQL).fetchall()}
        indexes = {index: table for index, table in conn.execute(_INDEXES_SQL).fetchall()}
        rows = {oid: int(n or 0) for oid, n in conn.execute(_ROWS_SQL).fetchall()}
        wal = conn.execute(_WAL_SQL).fetchone()
        return CatalogSnapshot(t, tables, indexes, None if wal is None else wal[0], rows)
