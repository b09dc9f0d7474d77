"""The ``prisma`` tool: ``prisma/migrations/<timestamp>_<name>/migration.sql`` and ``_prisma_migrations``.

Prisma Migrate applies folders in name order and records each attempt in ``_prisma_migrations``
(``checksum`` is the sha256 hex of ``migration.sql``). Reading that table the way Prisma does:

- a row with ``finished_at`` and no ``rolled_back_at``: applied;
- a row with ``started_at`` but neither ``finished_at`` nor ``rolled_back_at``: failed; Prisma
  refuses to deploy until someone runs ``prisma migrate resolve``;
- only rolled-back rows, or no row: pending;
- applied, but the file's sha256 differs from the recorded checksum: edited after apply.

Applying runs the project's own ``npx prisma migrate deploy`` (see :mod:`pgwarden.tools.external`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.config import Settings
from pgwarden.errors import ConfigError
from pgwarden.names import TOOL_HISTORY_TABLES
from pgwarden.pg.connection import table_exists
from pgwarden.records import Migration, MigrationStatus
from pgwarden.tools.base import history_sql, sha256_file
from pgwarden.tools.external import ExternalTool


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
        # Prisma orders by folder name; the timestamp prefix makes that chronological.
        return sorted(
            (
                entry
                for entry in self.folder.iterdir()
                if entry.is_dir() and (entry / "migration.sql").is_file()
            ),
            key=lambda entry: entry.name,
        )

    def rows(self, conn: psycopg.Connection[Any]) -> list[PrismaRow]:
        """Every row of ``_prisma_migrations``, oldest attempt first."""
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
        for folder in self._folders():
            path = folder / "migration.sql"
            checksum = sha256_file(path)
            status = _status(by_name.get(folder.name, []), checksum)
            result.append(
                Migration(
                    name=folder.name,
                    path=self.display(path),
                    status=status,
                    checksum=checksum,
                    sql=path.read_text(encoding="utf-8"),
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
        return f"npx prisma migrate resolve --rolled-back {name}"

    def head(self, conn: psycopg.Connection[Any]) -> str | None:
        if not table_exists(conn, self.history_table):
            return None
        row = conn.execute(history_sql(
            "select migration_name from {table} where finished_at is not null and rolled_back_at is null "
            "order by finished_at desc, migration_name desc limit 1",
            self.history_table,
        )).fetchone()
        return str(row[0]) if row else None

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        if not table_exists(conn, self.history_table):
            return []
        cur = conn.execute(history_sql(
            "select migration_name, started_at, finished_at, rolled_back_at, applied_steps_count, logs "
            "from {table} order by started_at desc limit 10",
            self.history_table,
        ))
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=False)) for row in cur.fetchall()]


def _status(rows: list[PrismaRow], checksum: str) -> MigrationStatus:
    if any(row.failed for row in rows):
        return MigrationStatus.FAILED
    applied = [row for row in rows if row.applied]
    if not applied:
        return MigrationStatus.PENDING
    if all(row.checksum != checksum for row in applied):
        return MigrationStatus.EDITED
    return MigrationStatus.APPLIED
