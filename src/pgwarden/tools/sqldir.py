"""The ``sql`` tool: an ordered folder of plain .sql migrations and pgwarden's own history table.

Accepted names: ``V3__add_x.sql`` (Flyway), ``0003_add_x.sql``, ``20240101120000_add_x.sql``
and ``<name>/migration.sql`` folders. They are ordered by their numeric version prefix, not by
string (so ``V10`` follows ``V9``). Applied migrations are recorded in ``pgwarden_migrations``;
an applied file whose sha256 changed is an error, never silently re-run.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pglast

from pgwarden.config import Settings
from pgwarden.durations import pg_duration
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.names import MIGRATE_APPLICATION_NAME, TOOL_HISTORY_TABLES
from pgwarden.records import Migration, MigrationStatus
from pgwarden.redact import redact
from pgwarden.tools.base import (
    ApplyResult,
    MigrationTool,
    SessionLimits,
    check_file_name,
    display_path,
    has_sql_suffix,
    history_sql,
    read_migration_text,
)

if TYPE_CHECKING:
    import psycopg

    from pgwarden.pg.connection import DatabaseTarget
    from pgwarden.pg.deploy_lock import LockToken

# psycopg and pg/ load where the database is used: a static plan (psycopg: half its start-up CPU) needs neither.

HISTORY_DDL = """
create table if not exists {table} (
    name text primary key,
    checksum text not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    duration_ms bigint,
    applied_by text,
    run_id text,
    error text
)
"""

_VERSION = re.compile(r"^(?:[Vv](?P<flyway>\d+(?:[._]\d+)*)__|(?P<num>\d+)(?:[_-]|$))")
# Statements that PostgreSQL refuses inside a transaction block.
_NO_TRANSACTION = re.compile(
    r"\b(create|drop)\s+index\s+concurrently\b|\breindex\b[^;]*\bconcurrently\b|"
    r"\bdetach\s+partition\b[^;]*\bconcurrently\b|\bvacuum\b|\balter\s+system\b|"
    r"\bcreate\s+database\b|\bdrop\s+database\b|--\s*pgwarden:no-transaction",
    re.I,
)


@dataclass(frozen=True)
class SqlFile:
    name: str
    path: Path
    version: tuple[int, ...]


def version_of(name: str) -> tuple[int, ...] | None:
    """The numeric ordering key of a migration name, or None when it has no version prefix."""
    match = _VERSION.match(name)
    if not match:
        return None
    if match.group("flyway"):
        return tuple(int(p) for p in re.split(r"[._]", match.group("flyway")))
    return (int(match.group("num")),)


def discover(folder: Path) -> list[SqlFile]:
    """Migration files of ``folder`` in apply order. Unversioned files are a config error."""
    found: list[SqlFile] = []
    problems: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):  # types without a stat, closes itself
        name = entry.name
        if has_sql_suffix(name) and entry.is_file():
            path = entry_path = folder / name
            name = name[:-4]
        elif entry.is_dir() and (folder / name / "migration.sql").is_file():
            entry_path = folder / name
            path = entry_path / "migration.sql"
        else:
            continue
        check_file_name(entry_path)
        version = version_of(name)
        if version is None:
            problems.append(entry.name)
            continue
        found.append(SqlFile(name=name, path=path, version=version))
    if problems:
        raise ConfigError(
            f"{folder}: migrations.path: expected every migration to start with a version "
            f"(V3__x.sql, 0003_x.sql, 20240101120000_x.sql or <version>_x/migration.sql), got {', '.join(problems)}"
        )
    found.sort(key=lambda f: (f.version, f.name))
    seen: dict[tuple[int, ...], str] = {}
    for f in found:
        if f.version in seen:
            raise ConfigError(f"{folder}: migrations {seen[f.version]} and {f.name} have the same version")
        seen[f.version] = f.name
    return found


def needs_own_transaction(sql: str) -> bool:
    """True when the file holds a statement that cannot run inside a transaction block."""
    return bool(_NO_TRANSACTION.search(_strip_comments(sql)) or "pgwarden:no-transaction" in sql)


def split_statements(sql: str) -> list[str]:
    """Split a SQL file into statements with the real PostgreSQL parser."""
    try:
        return [str(s) for s in pglast.split(sql, with_parser=True)]
    except pglast.parser.ParseError as exc:
        raise OperationFailed(f"cannot parse SQL: {exc}") from None


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


class SqlDirTool(MigrationTool):
    name = "sql"
    history_table = TOOL_HISTORY_TABLES[name]
    holds_deploy_lock = True

    def __init__(self, settings: Settings, folder: Path | None = None) -> None:
        self.settings = settings
        self.folder = folder or settings.migrations_path

    def _files(self) -> list[SqlFile]:
        if not self.folder.is_dir():
            raise ConfigError(f"migrations.path: expected a folder of .sql files, {self.folder} is not one")
        return discover(self.folder)

    def _history(self, conn: psycopg.Connection[Any]) -> dict[str, tuple[str, Any, Any]]:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return {}
        rows = conn.execute(
            history_sql("select name, checksum, finished_at, error from {table}", self.history_table)
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def migrations(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        import hashlib  # here: OpenSSL's start-up is 2% of a plan of explicit PATHs, which only uses discover()
        history = self._history(conn) if conn is not None else {}
        result = []
        for f in self._files():
            text = read_migration_text(f.path)
            checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
            status = MigrationStatus.PENDING
            if f.name in history:
                recorded, finished_at, error = history[f.name]
                if finished_at is None:
                    # Started, no outcome recorded: pgwarden stopped while it ran (see apply).
                    status = MigrationStatus.FAILED if error else MigrationStatus.UNKNOWN
                elif recorded != checksum:
                    status = MigrationStatus.EDITED
                else:
                    status = MigrationStatus.APPLIED
            result.append(
                Migration(name=f.name, path=display_path(f.path, self.settings.base_dir), status=status,
                          checksum=checksum, sql=text, atomic=not needs_own_transaction(text))
            )
        return result

    def check_not_edited(self, migrations: list[Migration]) -> None:
        edited = [m.name for m in migrations if m.status is MigrationStatus.EDITED]
        if edited:
            raise OperationFailed(
                f"migration {edited[0]} was edited after it was applied (its sha256 no longer matches "
                f"{self.history_table}); put changes in a new migration instead",
            )

    def pending(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        all_migrations = self.migrations(conn)
        self.check_not_edited(all_migrations)
        return [m for m in all_migrations if m.status in (MigrationStatus.PENDING, MigrationStatus.FAILED)]

    def failed(self, conn: psycopg.Connection[Any]) -> list[Migration]:
        return [m for m in self.migrations(conn) if m.status is MigrationStatus.FAILED]

    def failure_logs(self, conn: psycopg.Connection[Any], name: str) -> str | None:
        # The error is recorded in the history table, but history_state already reports it.
        return None

    def resolve_hint(self, name: str) -> str:
        return (
            f"fix the cause (what failed rolled back), then: pgwarden resolve {name} --rolled-back "
            "(the next deploy runs it again)"
        )

    def recorded(self, conn: psycopg.Connection[Any]) -> list[str]:
        return [name for name, (_, finished_at, _) in self._history(conn).items() if finished_at is not None]

    def head(self, conn: psycopg.Connection[Any]) -> str | None:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return None
        row = conn.execute(history_sql(
            "select name from {table} where finished_at is not null order by finished_at desc, name desc limit 1",
            self.history_table,
        )).fetchone()
        return row[0] if row else None

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return []
        cur = conn.execute(history_sql(
            "select name, started_at, finished_at, duration_ms, error from {table} order by started_at desc limit 10",
            self.history_table,
        ))
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]

    def command(self) -> None:
        # pgwarden applies the files itself (apply below); no shell command runs.
        return None

    def apply(
        self, target: DatabaseTarget, limits: SessionLimits, *, run_id: str | None = None
    ) -> ApplyResult:
        """Apply every pending migration on one session, which holds the migration lock in a deploy.

        An atomic file runs in one transaction together with its history row, so it is applied and
        recorded, or neither. A ``-- pgwarden:no-transaction`` file runs statement by statement after
        its history row is committed: if it stops half-way the row says it started and not finished.
        """
        import psycopg
        from psycopg.sql import SQL, Literal

        from pgwarden.pg.connection import connect
        from pgwarden.pg.deploy_lock import take_migration_lock
        result = ApplyResult()
        token = limits.deploy_lock
        # The deploy's lock watchdog finds the migration session by this application_name.
        with connect(target, application_name=MIGRATE_APPLICATION_NAME) as conn:
            try:
                if token is not None and not take_migration_lock(conn, token):
                    result.error = ("another migration session holds the migration lock: an earlier deploy "
                                    "is still running its migrations")
                    return result
                conn.execute(history_sql(HISTORY_DDL, self.history_table))
                pending = self.pending(conn)
                conn.execute(SQL("set lock_timeout = {}").format(Literal(pg_duration(limits.lock_timeout_s))))
                conn.execute(SQL("set statement_timeout = {}").format(
                    Literal(pg_duration(limits.statement_timeout_s))))
                if conn.info.server_version >= 140000:
                    # Should pgwarden die, the server ends the statement (and rolls back its
                    # transaction) within a second instead of running it, locks held, to its end.
                    conn.execute("set client_connection_check_interval = '1s'")
            except psycopg.Error as exc:
                result.error = f"the migration session failed before any migration ran: {_message(exc)}"
                return result
            for migration in pending:
                if token is not None and not _still_locked(conn, token):
                    result.error = (f"the deploy lock was lost; stopped before {migration.name}, which did not "
                                    "start (another deploy may now run it)")
                    return result
                if not self._apply_one(conn, target, migration, run_id, result):
                    return result
                result.applied.append(migration.name)
        return result

    def _apply_one(self, conn: psycopg.Connection[Any], target: DatabaseTarget, migration: Migration,
                   run_id: str | None, result: ApplyResult) -> bool:
        """Run one migration and record it; False (with ``result`` filled in) when it failed."""
        import psycopg
        sql = migration.sql or ""
        started = time.monotonic()
        record = (migration.name, migration.checksum, _applied_by(), run_id)
        done = history_sql("update {table} set finished_at = now(), duration_ms = %s, error = null where name = %s",
                           self.history_table)
        completed = 0
        statement = sql
        sqlstate: str | None = None
        session_lost = False
        try:
            if migration.atomic:
                with conn.transaction():
                    conn.execute(history_sql(_START, self.history_table), record)
                    conn.execute(sql)
                    conn.execute(done, (int((time.monotonic() - started) * 1000), migration.name))
                return True
            # One statement at a time: a multi-statement string runs in an implicit transaction,
            # which CREATE INDEX CONCURRENTLY and friends refuse. The history row goes first.
            statements = split_statements(sql)
            conn.execute(history_sql(_START, self.history_table), record)
            for statement in statements:
                conn.execute(statement)
                completed += 1
            conn.execute(done, (int((time.monotonic() - started) * 1000), migration.name))
            return True
        except OperationFailed as exc:  # the file does not parse: nothing of it ran
            message = exc.message
        except psycopg.Error as exc:
            message = _message(exc)
            sqlstate = exc.sqlstate
            # Terminated (57P01...), connection failure (08...) or no answer at all.
            session_lost = conn.closed or conn.broken or sqlstate is None or sqlstate.startswith(("57P", "08"))
        retryable = sqlstate in ("55P03", "57014")
        if session_lost:
            message = f"the migration session ended during {migration.name}: {message}"
        # Not atomic: only a first statement that failed (and is not CONCURRENTLY, which leaves an
        # INVALID index behind) provably changed nothing.
        untouched = migration.atomic or (completed == 0 and not session_lost
                                         and "concurrently" not in statement.lower())
        result.failed, result.error, result.sqlstate = migration.name, message, sqlstate
        result.lock_timeout_hit = sqlstate == "55P03" and not session_lost
        result.untouched = untouched and not migration.atomic
        if not untouched:
            # Maybe partly applied: the history row stays "started, not finished" (status unknown).
            return False
        try:
            self._record_failure(conn, target, migration, record, message, forget=retryable and not session_lost)
        except (psycopg.Error, OperationFailed) as exc2:
            result.error += f" (and recording the failure in {self.history_table} failed: {_message(exc2)})"
        return False

    def _record_failure(self, conn: psycopg.Connection[Any], target: DatabaseTarget, migration: Migration,
                        record: tuple[Any, ...], message: str, *, forget: bool) -> None:
        """Record the error of a migration that changed nothing (status failed), or forget it
        (``forget``: a lock timeout or cancel, still pending).

        On the migration session when it is alive, else on a new one. A row whose migration was
        recorded as finished is never touched.
        """
        from pgwarden.pg.connection import connect
        own = not (conn.closed or conn.broken)
        with (nullcontext(conn) if own else connect(target)) as session:
            if forget:
                session.execute(history_sql("delete from {table} where name = %s and finished_at is null",
                                            self.history_table), (migration.name,))
                return
            session.execute(history_sql(_START, self.history_table), record)
            session.execute(history_sql("update {table} set error = %s where name = %s and finished_at is null",
                                        self.history_table), (message, migration.name))

    def record_resolution(self, conn: psycopg.Connection[Any], name: str, *, applied: bool) -> None:
        """``pgwarden resolve``: mark ``name`` finished with the file's checksum, or forget it."""
        conn.execute(history_sql(HISTORY_DDL, self.history_table))
        if not applied:
            conn.execute(history_sql("delete from {table} where name = %s", self.history_table), (name,))
            return
        migration = next((m for m in self.migrations(conn) if m.name == name), None)
        checksum = migration.checksum if migration is not None else ""
        conn.execute(history_sql(_START, self.history_table), (name, checksum, _applied_by(), "resolve"))
        conn.execute(history_sql("update {table} set finished_at = now(), error = null, checksum = %s "
                                 "where name = %s", self.history_table), (checksum, name))


#: The history row of a migration about to run (a failed earlier try is overwritten, a finished one kept).
_START = ("insert into {table} (name, checksum, applied_by, run_id) values (%s, %s, %s, %s) "
          "on conflict (name) do update set checksum = excluded.checksum, started_at = now(), "
          "finished_at = null, error = null, applied_by = excluded.applied_by, run_id = excluded.run_id "
          "where {table}.finished_at is null")


def _still_locked(conn: psycopg.Connection[Any], token: LockToken) -> bool:
    import psycopg

    from pgwarden.pg.deploy_lock import deploy_lock_held
    try:
        return deploy_lock_held(conn, token)
    except psycopg.Error:
        return False


def _message(exc: BaseException) -> str:
    return redact(str(exc).strip()) or type(exc).__name__


def _applied_by() -> str:
    """Who applies: the GitHub actor in Actions, else the local user, else the uid."""
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return actor
    import getpass  # here: only deploy records who applied
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry for the uid (`docker run --user 1234`); Python 3.13 raises OSError.
        return f"uid {os.getuid()}"
