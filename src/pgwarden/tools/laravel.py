"""The ``laravel`` tool: ``database/migrations/*.php``, Laravel's history table, and ``--pretend`` SQL.

Laravel migrations are PHP, so the SQL comes from Laravel itself: the configured plan command
(default ``php artisan migrate --pretend --force --no-ansi``; ``--force`` because Laravel asks for
confirmation in production, its default environment) prints, for each pending migration, the
queries it would run (:mod:`pgwarden.tools.laravel_pretend` reads both of Laravel's formats).

The plan command only reads: pgwarden refuses one that runs a destructive command or ``migrate``
without ``--pretend``, and runs it with ``default_transaction_read_only=on``. ``migrate --pretend``
creates the history table when it is missing, so against a database without one there is no
``--pretend`` (every migration is pending; its SQL is not known).

Laravel records a migration in its history table (``config/database.php``'s ``migrations``
entry; :func:`~pgwarden.tools.laravel_app.history_table_of`) only after it succeeded. PostgreSQL
rolls back a failed migration's DDL, unless the migration says ``public $withinTransaction =
false;`` (``Migration.atomic`` False): then what ran before the failure stays, and only
pgwarden's own record of the attempt tells.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed, SafetyRefusal
from pgwarden.guards import forbidden_in
from pgwarden.records import Migration, MigrationStatus
from pgwarden.tools.base import history_sql, sha256_file
from pgwarden.tools.external import CommandResult, ExternalTool, command_argv, target_of
from pgwarden.tools.laravel_app import (
    class_name_of,
    history_table_of,
    pretend_problem,
    runs_outside_transaction,
    studly_class,
)
from pgwarden.tools.laravel_pretend import PretendedMigration, parse_pretend_output

if TYPE_CHECKING:
    import psycopg

    from pgwarden.pg.connection import DatabaseTarget

# psycopg (half of pgwarden's start-up) loads where the database is used: a static plan needs none of it.

__all__ = ["DEFAULT_PLAN_COMMAND", "LaravelTool", "PretendedMigration", "parse_pretend_output"]

DEFAULT_PLAN_COMMAND = "php artisan migrate --pretend --force --no-ansi"

# Laravel 8: "Migrating: 2024_01_01_000000_x" before, "Migrated:  2024_..." after each migration;
# Laravel 9+: "  2024_01_01_000000_x ........ 3ms DONE" (or FAIL) once it finished.
_MIGRATING = re.compile(r"^\s*Migrating:\s+(?P<name>\S+)", re.M)
_MIGRATED = re.compile(r"^\s*Migrated:\s+(?P<name>\S+)", re.M)
_TASK_FAILED = re.compile(r"^\s*(?P<name>[A-Za-z0-9_]+)\s+\.{3,}.*\bFAIL\s*$", re.M)
_READ_ONLY_REFUSED = re.compile(r"25006|read-only transaction", re.I)


class LaravelTool(ExternalTool):
    name = "laravel"
    default_command = "php artisan migrate --force"
    #: Laravel reads DATABASE_URL (up to 10) or DB_URL (11+) in config/database.php.
    url_env_names = ("DATABASE_URL", "DB_URL")
    #: Laravel makes the URL's query parameters its PDO options: the limits go in PGOPTIONS only.
    url_session_options = False

    def __init__(self, settings: Settings, folder: Path | None = None) -> None:
        super().__init__(settings)
        self.folder = folder or settings.migrations_path
        configured = settings.migrations.working_directory
        self.app_dir = settings.resolve_path(configured) if configured else Path(settings.base_dir)
        self.history_table = history_table_of(self.app_dir)

    # --- reading ---------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted((p for p in self.folder.glob("*.php") if p.is_file()), key=lambda p: p.name)

    def ran(self, conn: psycopg.Connection[Any]) -> dict[str, int]:
        """Recorded migrations and their batch."""
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return {}
        query = history_sql("select migration, batch from {table} order by id", self.history_table)
        return {str(name): int(batch) for name, batch in conn.execute(query).fetchall()}

    def migrations(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        ran = self.ran(conn) if conn is not None else {}
        result = [
            Migration(
                name=path.stem,
                path=self.display(path),
                status=MigrationStatus.APPLIED if path.stem in ran else MigrationStatus.PENDING,
                checksum=sha256_file(path),
                atomic=not runs_outside_transaction(path),
            )
            for path in self._files()
        ]
        on_disk = {m.name for m in result}
        # Recorded but not on disk (deleted or on another branch): still part of the history.
        result += [
            Migration(
                name=name, path=self.display(self.folder / f"{name}.php"), status=MigrationStatus.APPLIED
            )
            for name in ran
            if name not in on_disk
        ]
        return result

    def printed_names(self) -> dict[str, str]:
        """Every name ``--pretend`` may print for a migration (file name, class) -> its file name."""
        names: dict[str, str] = {}
        for path in self._files():
            names[path.stem] = path.stem
            names.setdefault(class_name_of(path) or studly_class(path.stem), path.stem)
        return names

    @property
    def plan_command(self) -> str:
        return self.settings.migrations.plan_command or DEFAULT_PLAN_COMMAND

    def check_plan_command(self) -> None:
        """Refuse a plan command that could write: plan only reads, in every environment."""
        command = self.plan_command
        where = "migrations.plan_command" if self.settings.migrations.plan_command else "the laravel plan command"
        destructive = forbidden_in(command)
        if destructive:
            raise SafetyRefusal(
                f"refusing to run {where} {command!r}: it runs "
                + "; ".join(f"`{rule.label}` ({rule.why})" for rule in destructive),
                hint=f"plan only reads; set migrations.plan_command to {DEFAULT_PLAN_COMMAND!r}",
            )
        problem = pretend_problem(command)
        if problem:
            raise ConfigError(
                f"{self.settings.source or 'pgwarden.yml'}: migrations.plan_command: {problem}",
                hint=f"plan only reads; use {DEFAULT_PLAN_COMMAND!r}",
            )

    def pretend(self, target: DatabaseTarget | None) -> list[PretendedMigration]:
        """Run the plan command read-only (it reads the database to know what is pending), parse it."""
        self.check_plan_command()
        result = self.run(command_argv(self.plan_command), target=target, what="laravel plan command",
                          read_only=True)
        if not result.ok:
            tail = "\n".join(result.output.strip().splitlines()[-10:])
            hint = ("the command must print the SQL of the pending migrations "
                    f"({DEFAULT_PLAN_COMMAND}) and may need a database URL")
            if "Doctrine DBAL" in result.output:
                hint = ("Laravel needs doctrine/dbal to render a column ->change(), also for --pretend: "
                        "install it, or plan that migration's SQL as an explicit PATH")
            elif "Command Canceled" in result.output:
                hint = "Laravel asked for confirmation (production): add --force to migrations.plan_command"
            elif _READ_ONLY_REFUSED.search(result.output):
                hint = (f"plan runs the plan command read-only and it tried to write; when the database has no "
                        f"{self.history_table} table yet, Laravel's --pretend creates it: run `php artisan "
                        "migrate:install` once, or plan with --database-url of a database that has it")
            raise OperationFailed(
                f"migrations.plan_command {self.plan_command!r} exited with code {result.returncode}"
                + (f":\n{tail}" if tail else ""),
                hint=hint,
            )
        return parse_pretend_output(result.output, self.printed_names())

    def pending(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        """Pending migrations with their SQL from ``--pretend``.

        With ``conn``: the files the history table lacks, and the plan command runs against that
        same database (not when the table is missing: ``--pretend`` would create it); without:
        what ``--pretend`` lists (against the ambient configuration).
        """
        from pgwarden.pg.connection import table_exists
        files = {m.name: m for m in self.migrations(None)}
        if conn is not None:
            if not table_exists(conn, self.history_table):
                return list(files.values())
            pretended = {p.name: p for p in self.pretend(target_of(conn))}
            ran = self.ran(conn)
            names = [m.name for m in self.migrations(conn) if m.status is MigrationStatus.PENDING]
            names += [name for name in pretended if name not in names and name not in ran]
        else:
            pretended = {p.name: p for p in self.pretend(None)}
            names = list(pretended) or list(files)
        result = []
        for name in names:
            base = files.get(name) or Migration(name=name, path=self.display(self.folder / f"{name}.php"))
            sql = pretended[name].sql if name in pretended and not pretended[name].unavailable else None
            result.append(
                Migration(
                    name=name, path=base.path, status=MigrationStatus.PENDING, checksum=base.checksum, sql=sql,
                    atomic=base.atomic,
                )
            )
        return result

    def started_migration(self, result: CommandResult, left: list[str], applied: list[str]) -> str | None:
        """The migration Laravel was running when it failed, from its output; None when it ran none
        (it could not connect, or failed while preparing)."""
        started = [m.group("name") for m in _MIGRATING.finditer(result.output)]
        finished = {m.group("name") for m in _MIGRATED.finditer(result.output)}
        unfinished = [name for name in started if name not in finished]
        if unfinished:
            return unfinished[-1]
        failed = [m.group("name") for m in _TASK_FAILED.finditer(result.output)]
        # Laravel names a migration before (8) or as (9+) it runs it: no name, none started.
        return failed[-1] if failed else None

    def failed(self, conn: psycopg.Connection[Any]) -> list[Migration]:
        # Laravel inserts into `migrations` only after success; nothing records a failed attempt.
        return []

    def recorded(self, conn: psycopg.Connection[Any]) -> list[str]:
        return list(self.ran(conn))

    def resolve_hint(self, name: str) -> str:
        return (
            f"php artisan migrate:status (then fix {name} and run php artisan migrate --force; "
            "Laravel records a migration only once it succeeded)"
        )

    def head(self, conn: psycopg.Connection[Any]) -> str | None:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return None
        row = conn.execute(history_sql(
            "select migration from {table} order by batch desc, id desc limit 1", self.history_table
        )).fetchone()
        return str(row[0]) if row else None

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return []
        cur = conn.execute(history_sql(
            "select id, migration, batch from {table} order by id desc limit 10", self.history_table
        ))
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]
