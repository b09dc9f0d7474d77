"""Locks around a deploy: the deploy lock, the pre-flight look at blockers, and the lock watchdog.

- :class:`DeployLock` is a session-level advisory lock on a key derived from the database name,
  held on its own connection for the whole deploy, so two deploys never overlap.
- :func:`find_blocking_sessions` lists the sessions inside a transaction that hold locks on the
  tables the pending migrations touch: a DDL statement would queue behind them, and every
  query of the application would then queue behind the DDL (the classic migration outage).
- :class:`LockWatchdog` watches, on a second connection, who waits behind the migration's
  backends (``application_name = pgwarden-migrate``) while it runs. It reports the longest
  wait and cancels the migration (``pg_cancel_backend``) once others have waited longer than
  ``deploy.max_blocking``: a cancelled migration can be retried, a site that is down cannot.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgwarden.errors import SafetyRefusal
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.redact import redact

#: Every migration session pgwarden starts (built-in runner, PGAPPNAME of external tools).
MIGRATION_APPLICATION_NAME = "pgwarden-migrate"
DEPLOY_LOCK_APPLICATION_NAME = "pgwarden-deploy-lock"
WATCHDOG_APPLICATION_NAME = "pgwarden-watchdog"


def deploy_lock_key(dbname: str) -> int:
    """A stable signed 64-bit advisory lock key for deploys to ``dbname``."""
    digest = hashlib.sha256(f"pgwarden-deploy:{dbname}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# --- the deploy lock --------------------------------------------------------------------------


class DeployLock:
    """The advisory deploy lock, held on a dedicated connection until :meth:`release`."""

    def __init__(self, target: DatabaseTarget, *, wait_s: float, poll_s: float = 0.2) -> None:
        self.target = target
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.key = deploy_lock_key(target.dbname)
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s``; refuse (exit 4) naming the holder otherwise."""
        conn = connect(self.target, application_name=DEPLOY_LOCK_APPLICATION_NAME)
        deadline = time.monotonic() + self.wait_s
        try:
            while True:
                row = conn.execute("select pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row and row[0]:
                    self._conn = conn
                    return
                if time.monotonic() >= deadline:
                    holder = self._describe_holder(conn)
                    raise SafetyRefusal(
                        f"another pgwarden deploy is running against {self.target.dbname}{holder}; "
                        f"waited {self.wait_s:g}s for its deploy lock",
                        hint="let it finish (deploy.lock_wait sets how long to wait), then deploy again",
                    )
                time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
        except BaseException:
            conn.close()
            raise

    def _describe_holder(self, conn: psycopg.Connection[Any]) -> str:
        row = conn.execute(
            "select l.pid, a.client_addr::text, a.backend_start, a.usename from pg_locks l "
            "left join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.database = "
            "(select oid from pg_database where datname = current_database()) "
            "and ((l.classid::bigint << 32) | l.objid::bigint) = %s limit 1",
            (self.key,),
        ).fetchone()
        if not row:
            return ""
        pid, addr, started, user = row
        return f" (held by pid {pid}, user {user}, from {addr or 'local socket'}, since {started:%Y-%m-%d %H:%M:%S%z})"

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute("select pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error:
            pass  # closing the session below releases it anyway
        finally:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> DeployLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- which tables do the pending migrations touch? --------------------------------------------


def tables_touched(sql: str) -> set[str] | None:
    """Table names (``name`` or ``schema.name``) a SQL text refers to; None when it cannot be parsed."""
    import pglast
    from pglast.visitors import Visitor

    names: set[str] = set()

    class _Collect(Visitor):  # type: ignore[misc]
        def visit_RangeVar(self, ancestors: Any, node: Any) -> None:
            names.add(f"{node.schemaname}.{node.relname}" if node.schemaname else node.relname)

        def visit_DropStmt(self, ancestors: Any, node: Any) -> None:
            for obj in node.objects or ():
                if isinstance(obj, tuple):
                    parts = [getattr(p, "sval", None) for p in obj]
                    if parts and all(isinstance(p, str) for p in parts):
                        names.add(".".join(str(p) for p in parts))

    try:
        _Collect()(pglast.parse_sql(sql))
    except Exception:  # noqa: BLE001 - pglast raises parser and visitor errors alike: "unknown"
        return None
    return names


def _matches(relation: str, tables: set[str]) -> bool:
    schema, _, name = relation.partition(".")
    return relation in tables or (name in tables and schema == "public") or name in tables


# --- pre-flight -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockingSession:
    """A session inside a transaction that holds locks a migration would queue behind."""

    pid: int
    application_name: str
    user: str
    state: str
    xact_age_s: float
    query: str
    relations: tuple[str, ...]
    xact_start: str

    def describe(self) -> str:
        tables = ", ".join(self.relations) if self.relations else "no table locks"
        return (
            f"pid {self.pid} ({self.application_name or 'no application_name'}, user {self.user}) "
            f"{self.state} for {self.xact_age_s:.1f}s holding locks on {tables}; last query: {self.query}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "application_name": self.application_name,
            "user": self.user,
            "state": self.state,
            "xact_age_s": round(self.xact_age_s, 3),
            "query": self.query,
            "relations": list(self.relations),
        }


_BLOCKERS_SQL = """
select a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), coalesce(a.state, ''),
       extract(epoch from clock_timestamp() - a.xact_start)::float8,
       left(coalesce(a.query, ''), 200), a.xact_start::text,
       coalesce(array_agg(distinct n.nspname || '.' || c.relname)
                filter (where c.oid is not null and n.nspname not in ('pg_catalog', 'information_schema')),
                '{}')
from pg_stat_activity a
join pg_locks l on l.pid = a.pid and l.granted and l.locktype = 'relation'
left join pg_class c on c.oid = l.relation and c.relkind in ('r', 'p', 'm', 'f')
left join pg_namespace n on n.oid = c.relnamespace
where a.datname = current_database() and a.pid <> pg_backend_pid() and a.xact_start is not null
  and coalesce(a.application_name, '') not in (%s, %s)
  and (a.state like 'idle in transaction%%' or clock_timestamp() - a.xact_start > make_interval(secs => %s))
group by a.pid, a.application_name, a.usename, a.state, a.xact_start, a.query
order by a.xact_start
"""


def find_blocking_sessions(
    conn: psycopg.Connection[Any], tables: set[str] | None, *, min_xact_age_s: float = 1.0
) -> list[BlockingSession]:
    """Idle-in-transaction sessions and transactions older than ``min_xact_age_s`` holding
    locks on ``tables`` (every table when None)."""
    rows = conn.execute(
        _BLOCKERS_SQL, (DEPLOY_LOCK_APPLICATION_NAME, WATCHDOG_APPLICATION_NAME, min_xact_age_s)
    ).fetchall()
    found = []
    for pid, app, user, state, age, query, xact_start, relations in rows:
        relevant = tuple(sorted(r for r in relations if tables is None or _matches(r, tables)))
        if not relevant:
            continue
        found.append(
            BlockingSession(
                pid=pid, application_name=app, user=user, state=state, xact_age_s=float(age or 0.0),
                query=redact(" ".join(query.split())), relations=relevant, xact_start=xact_start,
            )
        )
    return found


def transactions_alive(conn: psycopg.Connection[Any], transactions: Iterable[tuple[int, str]]) -> bool:
    """Is any of these (pid, xact_start) transactions still open?"""
    wanted = list(transactions)
    if not wanted:
        return False
    rows = conn.execute(
        "select pid, xact_start::text from pg_stat_activity where pid = any(%s)", ([p for p, _ in wanted],)
    ).fetchall()
    alive = {(pid, start) for pid, start in rows}
    return any(t in alive for t in wanted)


# --- the lock watchdog ------------------------------------------------------------------------


@dataclass
class WatchdogReport:
    """What the watchdog saw during one migration attempt."""

    #: Longest time any other session waited behind a migration backend.
    max_wait_s: float = 0.0
    #: Who waited that long (a description), for the report.
    worst_waiter: str | None = None
    cancelled: bool = False
    cancel_reason: str | None = None
    migration_pids: set[int] = field(default_factory=set)
    #: Transactions the migration itself queued behind: {(pid, xact_start)}.
    migration_blockers: set[tuple[int, str]] = field(default_factory=set)
    blocker_descriptions: dict[int, str] = field(default_factory=dict)
    polls: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "max_wait_s": round(self.max_wait_s, 3),
            "worst_waiter": self.worst_waiter,
            "cancelled": self.cancelled,
            "cancel_reason": self.cancel_reason,
            "migration_blockers": sorted(self.blocker_descriptions.values()),
            "polls": self.polls,
        }


_WAITERS_SQL = """
select a.pid, coalesce(a.application_name, ''), pg_blocking_pids(a.pid),
       extract(epoch from clock_timestamp() - coalesce({waitstart}, a.query_start, a.state_change))::float8,
       left(coalesce(a.query, ''), 120)
from pg_stat_activity a
where a.datname = current_database() and a.wait_event_type = 'Lock' and a.pid <> pg_backend_pid()
"""
_WAITSTART = "(select min(l.waitstart) from pg_locks l where l.pid = a.pid and not l.granted)"

_MIGRATION_PIDS_SQL = (
    "select pid from pg_stat_activity where datname = current_database() and application_name = %s "
    "and pid <> pg_backend_pid()"
)

_DESCRIBE_SQL = (
    "select pid, xact_start::text, coalesce(application_name, ''), coalesce(state, ''), "
    "left(coalesce(query, ''), 120) from pg_stat_activity where pid = any(%s) and xact_start is not null"
)


class LockWatchdog:
    """Poll who waits behind the migration; cancel it when others wait longer than ``max_blocking_s``.

    Use as a context manager around one migration attempt; read :attr:`report` afterwards.
    """

    def __init__(
        self,
        target: DatabaseTarget,
        *,
        max_blocking_s: float,
        interval_s: float = 0.15,
        application_name: str = MIGRATION_APPLICATION_NAME,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.max_blocking_s = max_blocking_s
        self.interval_s = interval_s
        self.application_name = application_name
        self.on_event = on_event or (lambda _msg: None)
        self.report = WatchdogReport()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._waiters_sql = _WAITERS_SQL
        self._last_cancel: dict[int, float] = {}

    def start(self) -> None:
        self._conn = connect(self.target, application_name=WATCHDOG_APPLICATION_NAME)
        waitstart = _WAITSTART if self._conn.info.server_version >= 140000 else "null"
        self._waiters_sql = _WAITERS_SQL.format(waitstart=waitstart)
        self._thread = threading.Thread(target=self._run, name="pgwarden-lock-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> WatchdogReport:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        return self.report

    def __enter__(self) -> LockWatchdog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except psycopg.Error as exc:
                # A broken watchdog must not break the deploy; lock_timeout still protects it.
                self.report.errors.append(redact(str(exc).strip()))
                if self._conn is not None and self._conn.closed:
                    self.on_event("lock watchdog lost its connection; relying on lock_timeout alone")
                    return
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def poll(self) -> None:
        """One look at pg_stat_activity/pg_locks (public so tests can drive it step by step)."""
        conn = self._conn
        assert conn is not None, "start() the watchdog first"
        report = self.report
        report.polls += 1
        migration = {r[0] for r in conn.execute(_MIGRATION_PIDS_SQL, (self.application_name,)).fetchall()}
        report.migration_pids |= migration
        if not migration:
            return
        waiters = conn.execute(self._waiters_sql).fetchall()
        to_cancel: dict[int, str] = {}
        for pid, app, blockers, waited, query in waiters:
            blocking = set(blockers or ()) & migration
            if pid in migration:
                # The migration itself waits: remember on whom, so a retry can wait for them.
                self._remember_blockers(conn, set(blockers or ()) - migration)
                continue
            if not blocking:
                continue
            waited = float(waited or 0.0)
            if waited > report.max_wait_s:
                report.max_wait_s = waited
                report.worst_waiter = f"pid {pid} ({app or 'no application_name'}): {' '.join(query.split())}"
            if waited > self.max_blocking_s:
                for mig_pid in blocking:
                    to_cancel[mig_pid] = (
                        f"pid {pid} ({app or 'no application_name'}) waited {waited:.1f}s behind the "
                        f"migration (pid {mig_pid}), over deploy.max_blocking {self.max_blocking_s:g}s"
                    )
        now = time.monotonic()
        for mig_pid, reason in to_cancel.items():
            if now - self._last_cancel.get(mig_pid, -1e9) < 0.5:
                continue
            self._last_cancel[mig_pid] = now
            row = conn.execute("select pg_cancel_backend(%s)", (mig_pid,)).fetchone()
            if row and row[0]:
                report.cancelled = True
                report.cancel_reason = redact(reason)
                self.on_event(f"lock watchdog cancelled the migration: {report.cancel_reason}")

    def _remember_blockers(self, conn: psycopg.Connection[Any], pids: set[int]) -> None:
        if not pids:
            return
        for pid, xact_start, app, state, query in conn.execute(_DESCRIBE_SQL, (list(pids),)).fetchall():
            if (pid, xact_start) not in self.report.migration_blockers:
                self.report.migration_blockers.add((pid, xact_start))
                self.report.blocker_descriptions[pid] = redact(
                    f"pid {pid} ({app or 'no application_name'}, {state}): {' '.join(query.split())}"
                )
