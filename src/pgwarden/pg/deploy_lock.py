"""The deploy lock: a session-level advisory lock per database, so two deploys never overlap.

:class:`DeployLock` holds it on a dedicated connection for the whole deploy; the key is derived
from the database name, so deploys to different databases of one server do not wait for each other.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import psycopg

from pgwarden.errors import SafetyRefusal
from pgwarden.pg.connection import DatabaseTarget, connect

#: ``application_name`` of the session holding the lock (the pre-flight does not count it as a blocker).
DEPLOY_LOCK_APPLICATION_NAME = "pgwarden-deploy-lock"

_HOLDER_SQL = (
    "select l.pid, a.client_addr::text, a.backend_start, a.usename from pg_locks l "
    "left join pg_stat_activity a on a.pid = l.pid "
    "where l.locktype = 'advisory' and l.granted and l.database = "
    "(select oid from pg_database where datname = current_database()) "
    "and ((l.classid::bigint << 32) | l.objid::bigint) = %s limit 1"
)


def deploy_lock_key(dbname: str) -> int:
    """A stable signed 64-bit advisory lock key for deploys to ``dbname``."""
    digest = hashlib.sha256(f"pgwarden-deploy:{dbname}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


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
        row = conn.execute(_HOLDER_SQL, (self.key,)).fetchone()
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
