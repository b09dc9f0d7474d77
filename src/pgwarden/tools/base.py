"""The MigrationTool port: what every adapter (sql, prisma, laravel, alembic) provides.

Reading state (``migrations``) is separate from changing it (``apply``) so that ``plan`` and
``verify`` never risk a write. ``apply`` receives the session limits; how they reach the
migration session is the adapter's business (SET for the built-in runner, PGOPTIONS for
external tools).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    # typing.LiteralString is 3.11+; psycopg types sql.SQL's argument with it.
    from typing_extensions import LiteralString

from pgwarden.pg.connection import DatabaseTarget
from pgwarden.records import Migration


@dataclass(frozen=True)
class SessionLimits:
    lock_timeout_s: float
    statement_timeout_s: float


@dataclass
class ApplyResult:
    """What ``apply`` did. On failure ``error`` says why and ``failed`` names the migration."""

    applied: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str | None = None
    output: str = ""
    lock_timeout_hit: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class MigrationTool(Protocol):
    name: str
    #: Where the tool records what it applied (:data:`pgwarden.names.TOOL_HISTORY_TABLES`).
    history_table: str

    def migrations(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        """All migrations in order, with status from the history table when ``conn`` is given."""
        ...

    def pending(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        """Pending migrations in apply order, each with ``sql`` filled in where it can be known."""
        ...

    def head(self, conn: psycopg.Connection[Any]) -> str | None:
        """The newest applied migration, recorded in backup manifests."""
        ...

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        """The newest rows of the tool's history table, for failure reports."""
        ...

    def failed(self, conn: psycopg.Connection[Any]) -> list[Migration]:
        """Migrations the history table records as started but neither finished nor rolled back.

        ``deploy`` refuses to run while there is one: the tool would refuse too, or worse, re-run
        half-applied SQL.
        """
        ...

    def resolve_hint(self, name: str) -> str:
        """The command a human runs to mark a failed migration as resolved, after cleaning up."""
        ...

    def recorded(self, conn: psycopg.Connection[Any]) -> list[str]:
        """Names the tool's history records as applied, whether or not their file still exists.

        ``verify`` compares them with the folder: a recorded migration without its file was
        deleted or renamed after it ran, and the environments built from this repository differ.
        """
        ...

    def failure_logs(self, conn: psycopg.Connection[Any], name: str) -> str | None:
        """What the tool recorded about the failed attempt of ``name`` (the database error), if anything.

        Only Prisma keeps such logs (``_prisma_migrations.logs``); the others return None.
        """
        ...

    def command(self) -> str | None:
        """The shell command ``deploy`` runs to apply migrations: ``migrations.command`` when set,
        else the tool's own.

        None for the ``sql`` tool: pgwarden applies those files itself and runs no command (a
        ``migrations.command`` configured anyway is never run).
        """
        ...

    def apply(
        self, target: DatabaseTarget, limits: SessionLimits, *, run_id: str | None = None
    ) -> ApplyResult:
        """Apply every pending migration."""
        ...


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def display_path(path: Path, base_dir: str) -> str:
    """``path`` relative to the config's folder when it is inside it, as reports show it."""
    try:
        return str(path.resolve().relative_to(Path(base_dir).resolve()))
    except ValueError:
        return str(path)


def history_sql(template: LiteralString, table: str) -> sql.Composed:
    """``template`` with ``{table}`` replaced by the quoted name of a history table."""
    return sql.SQL(template).format(table=sql.Identifier(table))
