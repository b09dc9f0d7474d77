"""Shared helpers for the deploy and verify tests: a project on disk, a verified backup, sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from pgwarden.config import Settings, load_settings
from pgwarden.manifest import BackupFile, BackupManifest, new_backup_id, utc_now_iso
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.stores import open_store
from tests.fix_project import write_sql_project

#: Short limits keep the lock tests fast. lock_timeout < max_blocking here so the lock_timeout path
#: is what fires in these tests; the watchdog tests set their own max_blocking.
FAST_DEPLOY = """\
deploy:
  lock_timeout: 300ms
  statement_timeout: 30s
  retries: 1
  retry_backoff: 100ms
  max_blocking: 1s
  lock_wait: 500ms
  audit_log: audit.jsonl
"""


def write_project(base: Path, migrations: dict[str, str], *, extra: str = "", deploy: str = FAST_DEPLOY) -> Settings:
    """A sql-tool project in ``base`` with fast deploy limits; returns its Settings."""
    return load_settings(write_sql_project(base, migrations, extra=deploy + extra, store="file://backups"))


def add_migration(settings: Settings, name: str, sql: str) -> None:
    (settings.migrations_path / f"{name}.sql").write_text(sql)


def verified_backup(settings: Settings, target: DatabaseTarget, *, database: str | None = None,
                    verified: bool = True, age_s: float = 0.0) -> BackupManifest:
    """Publish a manifest as the backup engine does (row counts counted now) without dumping."""
    tables: dict[str, int] = {}
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        for schema, name in conn.execute(
            "select schemaname, relname from pg_stat_user_tables order by 1, 2"
        ).fetchall():
            count = pgsql.SQL("select count(*) from {}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(name))
            tables[f"{schema}.{name}"] = conn.execute(count).fetchone()[0]
    created = utc_now_iso()
    if age_s:
        created = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    store = open_store(settings.backup.store, settings)
    backup_id = new_backup_id()
    # One stored file, so that deploy's re-check of the backup's files (sizes) finds what it lists.
    content = f"stand-in archive of {target.dbname}\n".encode()
    writer = store.open_writer(backup_id, "stand-in.dump")
    writer.write(content)
    writer.commit()
    manifest = BackupManifest(
        id=backup_id, created_at=created, database=database or target.dbname, server_version="18.0",
        pg_dump_version="18.0", format="custom", compression="none", tables=tables, exact_tables=list(tables),
        store=settings.backup.store, verified=verified, verification="test manifest",
        files=[BackupFile("stand-in.dump", len(content), hashlib.sha256(content).hexdigest())],
        size_bytes=len(content),
    )
    store.write_manifest(manifest)
    return manifest


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    path = settings.resolve_path(settings.deploy.audit_log)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@contextmanager
def open_transaction(url: str, sql: str) -> Iterator[psycopg.Connection[Any]]:
    """A session that ran ``sql`` and sits idle in its transaction until the block ends."""
    conn = psycopg.connect(url, autocommit=False, application_name="test-blocker")
    try:
        conn.execute(sql)
        yield conn
    finally:
        conn.rollback()
        conn.close()


#: How long a test waits for a condition it set up (a session connected, a lock held) before failing.
SETUP_TIMEOUT_S = 30.0


class AppLoad:
    """An 'application' thread running a query in a loop, recording every latency.

    Entering the block returns once the first query has answered, so the load is really running
    when the test goes on (no start-up sleep to guess how long that takes under load).
    """

    def __init__(self, url: str, query: str, *, pause_s: float = 0.02) -> None:
        self.url, self.query, self.pause_s = url, query, pause_s
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, application_name="test-app") as conn:
                while not self._stop.is_set():
                    started = time.monotonic()
                    try:
                        conn.execute(self.query)
                    except psycopg.Error as exc:
                        self.errors.append(str(exc))
                    self.latencies.append(time.monotonic() - started)
                    self._running.set()
                    time.sleep(self.pause_s)
        except psycopg.Error as exc:
            self.errors.append(f"could not connect: {exc}")
            self._running.set()

    def __enter__(self) -> AppLoad:
        self._thread.start()
        if not self._running.wait(SETUP_TIMEOUT_S) or self.errors:
            self.__exit__()
            raise AssertionError(f"the application load did not start: {self.errors or 'timed out'}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

