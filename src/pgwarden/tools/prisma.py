"""The ``prisma`` tool: ``prisma/migrations/<timestamp>_<name>/migration.sql`` and ``_prisma_migrations``.

Prisma Migrate applies folders in name order and records each attempt in ``_prisma_migrations``
(``checksum`` is the sha256 hex of ``migration.sql``). Reading that table the way Prisma does:

- a row with ``finished_at`` and no ``rolled_back_at``: applied;
- a row with ``started_at`` but neither ``finished_at`` nor ``rolled_back_at``: failed; Prisma
  refuses to deploy until someone runs ``prisma migrate resolve``;
- only rolled-back rows, or no row: pending;
- applied, but the file matches the recorded checksum in none of the ways Prisma accepts
  (:func:`~pgwarden.tools.prisma_project.checksum_matches`: CRLF and LF count the same): edited.

A migration folder without ``migration.sql`` is an error (Prisma itself stops with P3015), and a
``migrations.path`` that differs from the one ``prisma.config.ts`` gives Prisma is one too.

Applying runs the project's own ``npx prisma migrate deploy`` (see :mod:`pgwarden.tools.external`).
Around it (:meth:`PrismaTool.apply`):

- a migration Prisma recorded as failed because its session gave way (lock timeout, or the lock
  watchdog's cancel) is marked rolled back, as ``prisma migrate resolve --rolled-back`` would, only
  when it is atomic (:func:`~pgwarden.tools.prisma_project.is_atomic`): then nothing of it is
  applied and the retry can run it. Otherwise it stays failed for a human to settle;
- a command that succeeds while migrations pgwarden expected stay pending is a failure (Prisma
  read another folder);
- Prisma's native schema engine gets the database URL, password included, on its command line;
  pgwarden refuses to run it with a password rather than let it show in ``ps``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.config import Settings
from pgwarden.errors import ConfigError, SafetyRefusal
from pgwarden.names import BOOKKEEPING_TABLES, TOOL_HISTORY_TABLES
from pgwarden.records import Migration, MigrationStatus
from pgwarden.tools.base import ApplyResult, SessionLimits, history_sql, read_migration_text, sha256_file
from pgwarden.tools.external import ExternalTool, command_argv
from pgwarden.tools.prisma_order import migration_folders
from pgwarden.tools.prisma_project import PrismaProject, checksum_matches, is_atomic, read_project

if TYPE_CHECKING:
    import psycopg

    from pgwarden.pg.connection import DatabaseTarget

# psycopg (half of pgwarden's start-up) loads where the database is used: a static plan needs none of it.

#: ``_prisma_migrations`` as Prisma creates it.
PRISMA_HISTORY_DDL = """CREATE TABLE {table} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)"""
#: Commands that start Prisma's own CLI (and so, without a driver adapter, its native engine).
_PRISMA_LAUNCHERS = frozenset({"npx", "pnpm", "yarn", "bunx", "bun", "prisma", "npm"})
#: Output of a statement cancelled by ``pg_cancel_backend`` (the lock watchdog): SQLSTATE 57014.
_CANCELLED = re.compile(r"57014|canceling statement due to user request", re.I)


@dataclass(frozen=True)
class PrismaRow:
    """One attempt recorded in ``_prisma_migrations``."""

    migration_name: str
    checksum: str
    started_at: datetime | None
    finished_at: datetime | None
    rolled_back_at: datetime | None
    logs: str | None

    @property
    def applied(self) -> bool:
        return self.finished_at is not None and self.rolled_back_at is None

    @property
    def failed(self) -> bool:
        return self.finished_at is None and self.rolled_back_at is None


class PrismaTool(ExternalTool):
    name = "prisma"
    history_table = TOOL_HISTORY_TABLES[name]
    default_command = "npx prisma migrate deploy"
    # Prisma's engine reads only the URL (its options parameter carries the session limits).
    url_env_names = ("DATABASE_URL",)

    def __init__(self, settings: Settings, folder: Path | None = None) -> None:
        super().__init__(settings)
        self.folder = folder or settings.migrations_path

    # --- reading ---------------------------------------------------------------------------

    def _folders(self) -> list[Path]:
        if not self.folder.is_dir():
            raise ConfigError(
                f"{self.settings.source or 'pgwarden.yml'}: migrations.path: expected the Prisma migrations "
                f"folder (prisma/migrations), but {self.folder} is not a folder"
            )
        self._check_tool_folder()
        return migration_folders(self.folder, self.display)

    def project(self) -> PrismaProject:
        """The project's Prisma configuration, read from the tool's working directory."""
        return read_project(self.cwd())

    def _check_tool_folder(self) -> None:
        """Refuse a ``migrations.path`` other than the folder Prisma reads (from prisma.config.ts)."""
        theirs = self.project().migrations_path
        if theirs is None or theirs == self.folder.resolve():
            return
        config = self.project().config_file
        raise ConfigError(
            f"{self.settings.source or 'pgwarden.yml'}: migrations.path is {self.display(self.folder)}, but "
            f"{self.display(config) if config else 'prisma.config.ts'} has Prisma read migrations from "
            f"{self.display(theirs)}: pgwarden would review and report on other files than Prisma applies",
            hint="set migrations.path to the folder prisma.config.ts names",
        )

    def rows(self, conn: psycopg.Connection[Any]) -> list[PrismaRow]:
        """Every row of ``_prisma_migrations``, oldest attempt first."""
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return []
        cur = conn.execute(history_sql(
            "select migration_name, checksum, started_at, finished_at, rolled_back_at, logs "
            "from {table} order by started_at, migration_name",
            self.history_table,
        ))
        return [PrismaRow(*row) for row in cur.fetchall()]

    def migrations(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        by_name: dict[str, list[PrismaRow]] = {}
        for row in self.rows(conn) if conn is not None else []:
            by_name.setdefault(row.migration_name, []).append(row)
        result = []
        adapter = self.project().adapter_engine
        for folder in self._folders():
            path = folder / "migration.sql"
            text = read_migration_text(path)
            status = _status(by_name.get(folder.name, []), path.read_bytes())
            result.append(
                Migration(
                    name=folder.name,
                    path=self.display(path),
                    status=status,
                    checksum=sha256_file(path),
                    sql=text,
                    atomic=is_atomic(text, adapter_engine=adapter),
                )
            )
        return result

    def pending(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        """Not finished: pending, and failed ones (they run again once resolved as rolled back)."""
        return [
            m for m in self.migrations(conn) if m.status in (MigrationStatus.PENDING, MigrationStatus.FAILED)
        ]

    def edited(self, conn: psycopg.Connection[Any]) -> list[Migration]:
        return [m for m in self.migrations(conn) if m.status is MigrationStatus.EDITED]

    def failed(self, conn: psycopg.Connection[Any]) -> list[Migration]:
        failed_names = {row.migration_name for row in self.rows(conn) if row.failed}
        known = {m.name: m for m in self.migrations(conn)}
        result = [known[name] for name in known if name in failed_names]
        # A failed row whose folder is gone still blocks `prisma migrate deploy`.
        result += [
            Migration(
                name=name,
                path=self.display(self.folder / name / "migration.sql"),
                status=MigrationStatus.FAILED,
            )
            for name in sorted(failed_names - set(known))
        ]
        return result

    def failure_logs(self, conn: psycopg.Connection[Any], name: str) -> str | None:
        """Prisma's own ``logs`` column of the failed attempt: the database error it met."""
        logs = [row.logs for row in self.rows(conn) if row.migration_name == name and row.failed and row.logs]
        return logs[-1] if logs else None

    def recorded(self, conn: psycopg.Connection[Any]) -> list[str]:
        return list(dict.fromkeys(row.migration_name for row in self.rows(conn) if row.applied))

    def resolve_hint(self, name: str) -> str:
        """``prisma migrate resolve``, as it works in this project (run where pgwarden runs Prisma)."""
        where = self.settings.migrations.working_directory
        prefix = f"cd {where} && " if where and where not in (".", "./") else ""
        # Prisma 6 with a driver adapter still looks for the native engine binary on resolve
        # --rolled-back and fails without it; any binary name works around it, the engine is not run.
        workaround = "PRISMA_SCHEMA_ENGINE_BINARY=/bin/true " if self.project().adapter_engine else ""
        return f"{prefix}{workaround}npx prisma migrate resolve --rolled-back {name}"

    def record_resolution(self, conn: psycopg.Connection[Any], name: str, *, applied: bool) -> None:
        """``pgwarden resolve``: record the decision in ``_prisma_migrations`` as ``prisma migrate resolve`` does.

        Rolled back: the open attempt gets ``rolled_back_at`` (the next deploy runs it again).
        Applied: the open attempt is finished, with the file's checksum; with no attempt recorded
        (pgwarden's own unfinished record), a finished row is added.
        """
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            conn.execute(history_sql(PRISMA_HISTORY_DDL, self.history_table))
        if not applied:
            conn.execute(history_sql(
                "update {table} set rolled_back_at = now() "
                "where migration_name = %s and finished_at is null and rolled_back_at is null",
                self.history_table), (name,))
            return
        path = self.folder / name / "migration.sql"
        checksum = sha256_file(path) if path.is_file() else ""
        cur = conn.execute(history_sql(
            "update {table} set finished_at = now(), checksum = %s, applied_steps_count = 1 "
            "where migration_name = %s and finished_at is null and rolled_back_at is null",
            self.history_table), (checksum, name))
        if not cur.rowcount and name not in self.recorded(conn):
            conn.execute(history_sql(
                "insert into {table} (id, checksum, migration_name, finished_at, applied_steps_count) "
                "values (gen_random_uuid()::text, %s, %s, now(), 1)", self.history_table), (checksum, name))

    # --- applying ------------------------------------------------------------------------------

    def apply(
        self, target: DatabaseTarget, limits: SessionLimits, *, run_id: str | None = None
    ) -> ApplyResult:
        """``prisma migrate deploy``, with what it leaves behind settled (see the module docstring)."""
        from pgwarden.pg.connection import connection
        project = self.project()
        self._refuse_password_on_argv(project, target)  # deploy asked first; other callers too
        with connection(target) as conn:
            self._create_history_beside_ours(conn)
            notes = self._settle_failed(conn, interrupted=False)
            stuck = self.failed(conn)
        if stuck:
            first = stuck[0]
            return ApplyResult(failed=first.name, untouched=True, error=(
                f"Prisma refuses to deploy (P3009) while {first.name} is recorded as failed, and pgwarden cannot "
                f"prove it left nothing behind ({_why_not_atomic(first, project)}). Check what of it is in the "
                f"database, undo it, then run: {self.resolve_hint(first.name)}"
            ))
        outcome = super().apply(target, limits, run_id=run_id)
        with connection(target) as conn:
            if not outcome.ok and outcome.failed:
                if outcome.lock_timeout_hit or _CANCELLED.search(outcome.output):
                    notes += self._settle_failed(conn, interrupted=True, only=outcome.failed)
            left = [m.name for m in self.pending(conn)]
        if outcome.ok and left:
            outcome.error = (
                f"prisma migrate deploy succeeded, yet {len(left)} migration(s) pgwarden expected are still "
                f"pending ({', '.join(left)}): Prisma read its migrations from another folder than "
                f"migrations.path ({self.display(self.folder)}); check prisma.config.ts (migrations.path, "
                "schema) and the command's --schema"
            )
        if notes:
            outcome.output = "\n".join([outcome.output, *notes]).strip("\n")
        return outcome

    def _create_history_beside_ours(self, conn: psycopg.Connection[Any]) -> None:
        """Create ``_prisma_migrations`` (Prisma's own DDL) when pgwarden's tables are all the schema holds.

        On a fresh database pgwarden's bookkeeping tables are there before Prisma's first run, and
        Prisma, finding a non-empty schema without its history, refuses with P3005 ("baseline").
        A schema holding anything else keeps Prisma's own verdict.
        """
        from pgwarden.pg.connection import table_exists
        if table_exists(conn, self.history_table):
            return
        others = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm', 'f') "
            "and not (c.relname = any(%s))", (sorted(BOOKKEEPING_TABLES),)).fetchone()
        if others and others[0]:
            return
        conn.execute(history_sql(PRISMA_HISTORY_DDL, self.history_table))

    def _settle_failed(self, conn: psycopg.Connection[Any], *, interrupted: bool, only: str | None = None) -> list[str]:
        """Mark rolled back what Prisma recorded as failed when provably nothing of it is applied.

        Before a run (``interrupted`` False) that is an atomic migration (a failure rolled its
        transaction back); after one, an atomic migration whose session gave way (lock timeout or
        cancel), so that the retry can apply it. Returns a note per migration marked.
        """
        candidates = [m for m in self.failed(conn) if only is None or m.name == only]
        notes = []
        for migration in candidates:
            if not migration.atomic or not migration.sql:
                continue
            conn.execute(history_sql(
                "update {table} set rolled_back_at = now() "
                "where migration_name = %s and finished_at is null and rolled_back_at is null",
                self.history_table,
            ), (migration.name,))
            why = "its session gave way to others" if interrupted else "it is recorded as failed"
            notes.append(
                f"pgwarden: marked {migration.name} as rolled back in {self.history_table} ({why}; it runs in one "
                "transaction, so nothing of it is applied), as `prisma migrate resolve --rolled-back` would"
            )
        return notes

    def refuse_unsafe_run(self, target: DatabaseTarget) -> None:
        self._refuse_password_on_argv(self.project(), target)

    def _refuse_password_on_argv(self, project: PrismaProject, target: DatabaseTarget) -> None:
        if project.adapter_engine or not target.password:
            return
        first = command_argv(self.command())[0].rsplit("/", 1)[-1]
        if project.version is None and first not in _PRISMA_LAUNCHERS:
            return  # not Prisma's CLI (a wrapper of the project's own): nothing known about its engine
        raise SafetyRefusal(
            f"{project.engine_description} would get the database URL, password included, on its command line "
            f"(prisma {project.version or '?'} starts it as `schema-engine cli --datasource <url>`), where every "
            "local user can read it in ps; pgwarden keeps passwords off command lines, so it did not run Prisma",
            hint="use a driver adapter (prisma.config.ts: engine: \"js\", experimental.adapter and adapter() "
            "returning new PrismaPg(...) from @prisma/adapter-pg), or connect without a password in the URL "
            "(peer, trust or certificate authentication)",
        )

    def head(self, conn: psycopg.Connection[Any]) -> str | None:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return None
        row = conn.execute(history_sql(
            "select migration_name from {table} where finished_at is not null and rolled_back_at is null "
            "order by finished_at desc, migration_name desc limit 1",
            self.history_table,
        )).fetchone()
        return str(row[0]) if row else None

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return []
        cur = conn.execute(history_sql(
            "select migration_name, started_at, finished_at, rolled_back_at, applied_steps_count, logs "
            "from {table} order by started_at desc limit 10",
            self.history_table,
        ))
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]


def _status(rows: list[PrismaRow], data: bytes) -> MigrationStatus:
    if any(row.failed for row in rows):
        return MigrationStatus.FAILED
    applied = [row for row in rows if row.applied]
    if not applied:
        return MigrationStatus.PENDING
    if not any(checksum_matches(data, row.checksum) for row in applied):
        return MigrationStatus.EDITED
    return MigrationStatus.APPLIED


def _why_not_atomic(migration: Migration, project: PrismaProject) -> str:
    if project.adapter_engine:
        return (f"{project.engine_description} runs migration.sql statement by statement without a transaction, "
                "so the statements before the failing one stay applied")
    return "migration.sql has its own transaction control or a statement that cannot run in a transaction"
