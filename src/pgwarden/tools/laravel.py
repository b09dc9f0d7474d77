"""The ``laravel`` tool: ``database/migrations/*.php``, the ``migrations`` table, and ``--pretend`` SQL.

Laravel migrations are PHP, so the SQL comes from Laravel itself: the configured plan command
(default ``php artisan migrate --pretend --no-ansi``) prints, for each pending migration, its
name and then the queries it would run. :func:`parse_pretend_output` reads the formats of
Laravel 9 to 11 (a name line padded with dots, then one ``⇂ query`` line per query) and the
older one-line-per-query format (``CreateUsersTable: create table ...``).

Laravel records a migration in ``migrations`` (id, migration, batch) only after it succeeded,
and PostgreSQL rolls back the DDL of a failed one, so there is no failed state to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.config import Settings
from pgwarden.errors import OperationFailed
from pgwarden.names import TOOL_HISTORY_TABLES
from pgwarden.pg.connection import DatabaseTarget, table_exists
from pgwarden.records import Migration, MigrationStatus
from pgwarden.tools.base import history_sql, sha256_file
from pgwarden.tools.external import ExternalTool, command_argv, target_of

DEFAULT_PLAN_COMMAND = "php artisan migrate --pretend --no-ansi"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "  2024_01_15_093000_create_orders_table ........  " (optionally "... 12ms DONE" / "Pending").
_HEADER = re.compile(r"^\s{0,4}(?P<name>[A-Za-z0-9_\\.\-]+)\s+\.{3,}(?:\s+.*)?$")
# "  ⇂ alter table ..."  (some terminals print the bullet as "=>" or "-").
_QUERY = re.compile(r"^\s*(?:⇂|=>)\s?(?P<sql>.*)$")
# Laravel <= 8: "CreateUsersTable: create table ..."
_LEGACY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_\\]*):\s+(?P<sql>\S.*)$")
_NOISE = re.compile(r"^\s*(INFO|WARN|ERROR)\s{1,}|^\s*Nothing to migrate", re.I)


@dataclass
class PretendedMigration:
    """One migration of the ``--pretend`` output and the queries it would run, in order."""

    name: str
    queries: list[str] = field(default_factory=list)

    @property
    def sql(self) -> str:
        return "".join(_terminated(query) + "\n" for query in self.queries)


def parse_pretend_output(text: str) -> list[PretendedMigration]:
    """Migrations and their queries from ``php artisan migrate --pretend`` output."""
    result: list[PretendedMigration] = []
    current: PretendedMigration | None = None
    for raw in _ANSI.sub("", text).splitlines():
        line = raw.rstrip()
        if not line.strip() or _NOISE.match(line):
            continue
        query = _QUERY.match(line)
        if query and current is not None:
            current.queries.append(query.group("sql").strip())
            continue
        header = _HEADER.match(line)
        if header:
            current = PretendedMigration(name=header.group("name"))
            result.append(current)
            continue
        legacy = _LEGACY.match(line)
        if legacy:
            name = legacy.group("name")
            if current is None or current.name != name:
                current = PretendedMigration(name=name)
                result.append(current)
            current.queries.append(legacy.group("sql").strip())
            continue
        if current is not None and current.queries and raw.startswith(" "):
            # A query with line breaks (DB::statement with a heredoc) continues on the next lines.
            current.queries[-1] += "\n" + line.strip()
    return result


def _terminated(query: str) -> str:
    query = query.strip()
    return query if query.endswith(";") else query + ";"


class LaravelTool(ExternalTool):
    name = "laravel"
    history_table = TOOL_HISTORY_TABLES[name]
    default_command = "php artisan migrate --force"
    #: Laravel reads DATABASE_URL (up to 10) or DB_URL (11+) in config/database.php.
    url_env_names = ("DATABASE_URL", "DB_URL")

    def __init__(self, settings: Settings, folder: Path | None = None) -> None:
        super().__init__(settings)
        self.folder = folder or settings.migrations_path

    # --- reading ---------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted((p for p in self.folder.glob("*.php") if p.is_file()), key=lambda p: p.name)

    def ran(self, conn: psycopg.Connection[Any]) -> dict[str, int]:
        """Recorded migrations and their batch."""
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

    @property
    def plan_command(self) -> str:
        return self.settings.migrations.plan_command or DEFAULT_PLAN_COMMAND

    def pretend(self, target: DatabaseTarget | None) -> list[PretendedMigration]:
        """Run the plan command (it reads the database to know what is pending) and parse it."""
        result = self.run(command_argv(self.plan_command), target=target, what="laravel plan command")
        if not result.ok:
            tail = "\n".join(result.output.strip().splitlines()[-10:])
            raise OperationFailed(
                f"migrations.plan_command {self.plan_command!r} exited with code {result.returncode}"
                + (f":\n{tail}" if tail else ""),
                hint="the command must print the SQL of the pending migrations "
                "(php artisan migrate --pretend --no-ansi) and may need a database URL",
            )
        return parse_pretend_output(result.output)

    def pending(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        """Pending migrations with their SQL from ``--pretend``.

        With ``conn``: the files the ``migrations`` table lacks, and the plan command runs against
        that same database; without: what ``--pretend`` lists (against the ambient configuration).
        """
        pretended = {p.name: p for p in self.pretend(target_of(conn) if conn is not None else None)}
        files = {m.name: m for m in self.migrations(None)}
        if conn is not None:
            names = [m.name for m in self.migrations(conn) if m.status is MigrationStatus.PENDING]
            names += [name for name in pretended if name not in names and name not in self.ran(conn)]
        else:
            names = list(pretended) or list(files)
        result = []
        for name in names:
            base = files.get(name) or Migration(name=name, path=self.display(self.folder / f"{name}.php"))
            sql = pretended[name].sql if name in pretended else None
            result.append(
                Migration(
                    name=name, path=base.path, status=MigrationStatus.PENDING, checksum=base.checksum, sql=sql
                )
            )
        return result

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
        if not table_exists(conn, self.history_table):
            return None
        row = conn.execute(history_sql(
            "select migration from {table} order by batch desc, id desc limit 1", self.history_table
        )).fetchone()
        return str(row[0]) if row else None

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        if not table_exists(conn, self.history_table):
            return []
        cur = conn.execute(history_sql(
            "select id, migration, batch from {table} order by id desc limit 10", self.history_table
        ))
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]
