"""The lock watchdog: who waits behind the migration while it runs, and when to cancel it.

:class:`LockWatchdog` watches, on a second connection, who waits behind the migration's
backends (``application_name = pgwarden-migrate``). It reports the longest wait and cancels the
migration (``pg_cancel_backend``) once others have waited longer than ``deploy.max_blocking``:
a cancelled migration can be retried, a site that is down cannot.

Whether to cancel is decided by :func:`decide_cancels`, a pure function over what one look at
``pg_stat_activity`` showed (:class:`LockWait`), so the policy is tested without a database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgwarden.names import MIGRATE_APPLICATION_NAME
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.records import Progress
from pgwarden.redact import redact

#: ``application_name`` of the watchdog's own session (the pre-flight does not count it as a blocker).
WATCHDOG_APPLICATION_NAME = "pgwarden-watchdog"

#: A backend already cancelled is not cancelled again sooner than this: the cancel takes a
#: moment to land, and the waits seen meanwhile are the same waits.
RECANCEL_AFTER_S = 0.5

#: Advisory locks migration tools take to run one at a time, by key: a session waiting on one
#: is another run of the tool (a second ``prisma migrate deploy``), not application traffic, and
#: cancelling the healthy migration for it would only hand the lock to that other run.
TOOL_ADVISORY_LOCKS: dict[int, str] = {72707369: "Prisma Migrate's advisory lock"}


# --- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LockWait:
    """One session waiting for a lock, as one look at ``pg_stat_activity`` showed it."""

    pid: int
    application_name: str
    #: ``pg_blocking_pids``: the sessions it waits for.
    blocked_by: frozenset[int]
    waited_s: float
    query: str
    #: The advisory lock key it waits for, when it waits for one (None: another kind of lock).
    advisory_key: int | None = None

    @property
    def on_tool_lock(self) -> bool:
        """Waits for a migration tool's own lock (:data:`TOOL_ADVISORY_LOCKS`)."""
        return self.advisory_key in TOOL_ADVISORY_LOCKS

    @property
    def who(self) -> str:
        return f"pid {self.pid} ({self.application_name or 'no application_name'})"


@dataclass(frozen=True)
class WatchDecision:
    """What one look at the lock waits means for the migration."""

    #: The longest wait behind a migration backend (None: nobody waits for the migration).
    worst: LockWait | None = None
    #: Migration backends to cancel now, each with the reason.
    cancel: dict[int, str] = field(default_factory=dict)
    #: Sessions the migration itself waits for: a retry can start once they are gone.
    migration_waits_for: frozenset[int] = frozenset()


def decide_cancels(
    waits: Iterable[LockWait],
    migration_pids: Set[int],
    max_blocking_s: float,
    *,
    last_cancel: Mapping[int, float] | None = None,
    now: float = 0.0,
) -> WatchDecision:
    """Cancel a migration backend once someone has waited behind it longer than ``max_blocking_s``.

    ``last_cancel`` maps a migration pid to the ``now`` at which it was last cancelled; it is not
    cancelled again within :data:`RECANCEL_AFTER_S`. A session waiting for a migration tool's own
    advisory lock (:attr:`LockWait.on_tool_lock`) neither counts as blocked nor causes a cancel.
    """
    last_cancel = last_cancel or {}
    worst: LockWait | None = None
    cancel: dict[int, str] = {}
    waits_for: set[int] = set()
    for wait in waits:
        if wait.pid in migration_pids:
            waits_for |= wait.blocked_by - migration_pids
            continue
        blocking = wait.blocked_by & migration_pids
        if not blocking or wait.on_tool_lock:
            continue
        if worst is None or wait.waited_s > worst.waited_s:
            worst = wait
        if wait.waited_s > max_blocking_s:
            for mig_pid in blocking:
                cancel[mig_pid] = (
                    f"{wait.who} waited {wait.waited_s:.1f}s behind the migration (pid {mig_pid}), "
                    f"over deploy.max_blocking {max_blocking_s:g}s"
                )
    due = {pid: why for pid, why in cancel.items() if now - last_cancel.get(pid, -1e9) >= RECANCEL_AFTER_S}
    return WatchDecision(worst, due, frozenset(waits_for))


# --- the watchdog -----------------------------------------------------------------------------


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
       left(coalesce(a.query, ''), 120),
       (select (l.classid::bigint << 32) | l.objid::bigint from pg_locks l
        where l.pid = a.pid and not l.granted and l.locktype = 'advisory' and l.objsubid = 1 limit 1)
from pg_stat_activity a
where a.datname = current_database() and a.wait_event_type = 'Lock' and a.pid <> pg_backend_pid()
"""
# pg_locks.waitstart exists from PostgreSQL 14 on; before, the query's start is the best guess.
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
        application_name: str = MIGRATE_APPLICATION_NAME,
        on_event: Progress | None = None,
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
        waits = [
            LockWait(pid, app, frozenset(blockers or ()), float(waited or 0.0), " ".join(query.split()), key)
            for pid, app, blockers, waited, query, key in conn.execute(self._waiters_sql).fetchall()
        ]
        now = time.monotonic()
        decision = decide_cancels(waits, migration, self.max_blocking_s, last_cancel=self._last_cancel, now=now)
        if decision.worst is not None and decision.worst.waited_s > report.max_wait_s:
            report.max_wait_s = decision.worst.waited_s
            report.worst_waiter = f"{decision.worst.who}: {decision.worst.query}"
        self._remember_blockers(conn, set(decision.migration_waits_for))
        for mig_pid, reason in decision.cancel.items():
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
