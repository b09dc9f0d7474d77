"""The deploy lock: a session-level advisory lock per database, so two deploys never overlap.

:class:`DeployLock` holds it on a dedicated connection for the whole deploy; the key is derived
from the database name, so deploys to different databases of one server do not wait for each other.

The lock session can die under a deploy (``pg_terminate_backend``, a network cut). So that a
second deploy cannot then run a migration the first is still running:

- a migration session pgwarden owns (the ``sql`` tool) holds a second advisory lock, the
  migration lock (:func:`take_migration_lock`), and checks before each migration that the deploy
  lock is still held by its deploy (:func:`deploy_lock_held`);
- :meth:`DeployLock.acquire` waits, within ``lock_wait``, until no migration session of an
  earlier deploy is left (the migration lock free, no ``pgwarden-migrate`` backend), and refuses
  otherwise; the deploy watches its lock session (:meth:`DeployLock.alive`) and stops the tool
  when it is lost (:mod:`pgwarden.pipeline.deploy_lockwatch`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from pgwarden.errors import SafetyRefusal
from pgwarden.names import MIGRATE_APPLICATION_NAME
from pgwarden.pg.connection import DatabaseTarget, connect

#: ``application_name`` of the session holding the lock (the pre-flight does not count it as a blocker).
DEPLOY_LOCK_APPLICATION_NAME = "pgwarden-deploy-lock"
#: ``application_name`` of an in-place restore holding the same lock: a deploy must not migrate a
#: database that is being replaced, nor a restore replace one that is being migrated.
RESTORE_LOCK_APPLICATION_NAME = "pgwarden-restore-lock"
_DOING = {DEPLOY_LOCK_APPLICATION_NAME: "deploy", RESTORE_LOCK_APPLICATION_NAME: "in-place restore"}

_HOLDER_SQL = (
    "select l.pid, a.client_addr::text, a.backend_start, a.usename, a.application_name from pg_locks l "
    "left join pg_stat_activity a on a.pid = l.pid "
    "where l.locktype = 'advisory' and l.granted and l.database = "
    "(select oid from pg_database where datname = current_database()) "
    "and ((l.classid::bigint << 32) | l.objid::bigint) = %s limit 1"
)


_HELD_SQL = (
    "select l.pid from pg_locks l where l.locktype = 'advisory' and l.granted and l.database = "
    "(select oid from pg_database where datname = current_database()) "
    "and ((l.classid::bigint << 32) | l.objid::bigint) = %s"
)
_MIGRATION_SESSIONS_SQL = (
    "select pid, application_name, state from pg_stat_activity where datname = current_database() "
    "and pid <> pg_backend_pid() and (application_name = %s or application_name like %s)"
)


def deploy_lock_key(dbname: str) -> int:
    """A stable signed 64-bit advisory lock key for deploys to ``dbname``."""
    digest = hashlib.sha256(f"pgwarden-deploy:{dbname}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migration_lock_key(dbname: str) -> int:
    """The key of the migration lock, held by a migration session pgwarden owns while it runs."""
    digest = hashlib.sha256(f"pgwarden-migrate:{dbname}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class LockToken:
    """What a migration session needs to hold its deploy's lock too: the keys and the lock session's pid."""

    deploy_key: int
    migration_key: int
    holder_pid: int


def _holders(conn: psycopg.Connection[Any], key: int) -> list[int]:
    return [row[0] for row in conn.execute(_HELD_SQL, (key,)).fetchall()]


def deploy_in_progress(conn: psycopg.Connection[Any], dbname: str) -> bool:
    """True while some session holds the deploy lock of ``dbname`` (a deploy or resolve is running)."""
    return bool(_holders(conn, deploy_lock_key(dbname)))


def take_migration_lock(conn: psycopg.Connection[Any], token: LockToken) -> bool:
    """Take the migration lock on the migration session ``conn``; False when another session has it."""
    row = conn.execute("select pg_try_advisory_lock(%s)", (token.migration_key,)).fetchone()
    return bool(row and row[0])


def deploy_lock_held(conn: psycopg.Connection[Any], token: LockToken) -> bool:
    """True while the deploy's own lock session still holds the deploy lock."""
    return token.holder_pid in _holders(conn, token.deploy_key)


def migration_sessions(conn: psycopg.Connection[Any]) -> list[str]:
    """The migration sessions alive in this database (besides ``conn``), described for a message."""
    found = [f"pid {pid} ({name}, {state})" for pid, name, state in conn.execute(
        _MIGRATION_SESSIONS_SQL, (MIGRATE_APPLICATION_NAME, MIGRATE_APPLICATION_NAME + "-%")).fetchall()]
    key = migration_lock_key(str(conn.info.dbname))
    found += [f"pid {pid} (holds the migration lock)" for pid in _holders(conn, key)
              if not any(f"pid {pid} " in f for f in found)]
    return found


def terminate_migration_sessions(conn: psycopg.Connection[Any]) -> list[int]:
    """``pg_terminate_backend`` every migration session of this database; their pids."""
    rows = conn.execute(
        "select pid, pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() "
        "and pid <> pg_backend_pid() and (application_name = %s or application_name like %s)",
        (MIGRATE_APPLICATION_NAME, MIGRATE_APPLICATION_NAME + "-%"),
    ).fetchall()
    return [row[0] for row in rows]


class DeployLock:
    """The advisory deploy lock, held on a dedicated connection until :meth:`release`."""

    def __init__(self, target: DatabaseTarget, *, wait_s: float, poll_s: float = 0.2,
                 application_name: str = DEPLOY_LOCK_APPLICATION_NAME) -> None:
        self.target = target
        self.application_name = application_name
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.key = deploy_lock_key(target.dbname)
        self._conn: psycopg.Connection[Any] | None = None
        self._token: LockToken | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s``; refuse (exit 4) naming the holder otherwise.

        Also waits (within the same ``wait_s``) until no migration session of an earlier deploy is
        left: one whose deploy lost its lock session may still be running a migration.
        """
        conn = connect(self.target, application_name=self.application_name)
        doing = _DOING.get(self.application_name, "deploy")
        deadline = time.monotonic() + self.wait_s
        try:
            while True:
                row = conn.execute("select pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() >= deadline:
                    other, holder = self._describe_holder(conn)
                    raise SafetyRefusal(
                        f"another pgwarden {other} is running against {self.target.dbname}{holder}; "
                        f"waited {self.wait_s:g}s for its deploy lock, nothing was changed",
                        hint=f"let it finish (deploy.lock_wait sets how long to wait), then {doing} again",
                    )
                time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
            while sessions := migration_sessions(conn):
                if time.monotonic() >= deadline:
                    raise SafetyRefusal(
                        f"a migration session of an earlier deploy is still running against {self.target.dbname}: "
                        f"{', '.join(sessions)}; its deploy lost the deploy lock, and running migrations now "
                        "could apply one twice",
                        hint="wait until it ends (it is listed in pg_stat_activity), then deploy again",
                    )
                time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
            self._token = LockToken(self.key, migration_lock_key(self.target.dbname), conn.info.backend_pid)
            self._conn = conn
        except BaseException:
            conn.close()
            raise

    @property
    def token(self) -> LockToken | None:
        """For the migration session to hold the lock too (None before :meth:`acquire`)."""
        return self._token

    def alive(self) -> bool:
        """True while the lock session answers (so the lock is still held); False once it is lost.

        Call from one thread at a time (the lock watcher while a migration runs, else the deploy).
        """
        if self._conn is None:
            return False
        try:
            self._conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def _describe_holder(self, conn: psycopg.Connection[Any]) -> tuple[str, str]:
        """What holds the lock (a deploy or an in-place restore) and the session holding it."""
        row = conn.execute(_HOLDER_SQL, (self.key,)).fetchone()
        if not row:
            return "deploy", ""
        pid, addr, started, user, application = row
        where = f" (held by pid {pid}, user {user}, from {addr or 'local socket'}, since {started:%Y-%m-%d %H:%M:%S%z})"
        return _DOING.get(application or "", "deploy"), where

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
