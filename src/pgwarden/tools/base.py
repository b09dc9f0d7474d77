"""The MigrationTool port: what every adapter (sql, prisma, laravel, alembic) provides.

Reading state (``migrations``) is separate from changing it (``apply``) so that ``plan`` and
``verify`` never risk a write. ``apply`` receives the session limits; how they reach the
migration session is the adapter's business (SET for the built-in runner, PGOPTIONS for
external tools).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    # typing.LiteralString is 3.11+; psycopg types sql.SQL's argument with it.
    import psycopg
    from psycopg import sql
    from typing_extensions import LiteralString

    from pgwarden.pg.connection import DatabaseTarget
    from pgwarden.pg.deploy_lock import LockToken

from pgwarden.errors import ConfigError
from pgwarden.records import Migration


@dataclass(frozen=True)
class SessionLimits:
    lock_timeout_s: float
    statement_timeout_s: float
    #: The deploy lock, for a migration session pgwarden owns to hold it too (tools that
    #: set :attr:`MigrationTool.holds_deploy_lock`); None outside a deploy.
    deploy_lock: LockToken | None = None


@dataclass
class ApplyResult:
    """What ``apply`` did. On failure ``error`` says why and ``failed`` names the migration."""

    applied: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str | None = None
    output: str = ""
    lock_timeout_hit: bool = False
    #: The adapter knows the ``failed`` migration changed nothing although it is not atomic (its
    #: first statement failed, say); otherwise a non-atomic failure is recorded as unknown.
    untouched: bool = False
    #: The SQLSTATE of the error, where the adapter has it from the driver (``sql``); None otherwise.
    sqlstate: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class MigrationTool(Protocol):
    name: str
    #: Where the tool records what it applied (:data:`pgwarden.names.TOOL_HISTORY_TABLES`).
    history_table: str
    #: True when ``apply`` runs the migrations on a session pgwarden owns, which takes the
    #: migration lock of :class:`SessionLimits.deploy_lock` and stops before the next migration
    #: once the deploy lock is lost; False: the deploy stops the tool's processes instead.
    holds_deploy_lock: bool = False

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

    def refuse_unsafe_run(self, target: DatabaseTarget) -> None:
        """Raise :class:`~pgwarden.errors.SafetyRefusal` when running the tool against ``target`` would
        break one of pgwarden's promises (Prisma's native engine would get the password on its command
        line). ``deploy`` asks before anything else, so nothing has run. Most tools have nothing to refuse.
        """
        return None

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


@runtime_checkable
class RecordsResolutions(Protocol):
    """A tool whose history pgwarden writes itself, so ``pgwarden resolve`` can record a decision there."""

    def record_resolution(self, conn: psycopg.Connection[Any], name: str, *, applied: bool) -> None:
        """Record ``name`` as applied (``applied``) or as never run (so the next deploy runs it)."""
        ...


def has_sql_suffix(name: str) -> bool:
    """``Path(name).suffix == ".sql"`` without building a Path (a folder of migrations has thousands)."""
    return name.endswith(".sql") and len(name) > 4


def check_file_name(path: Path) -> None:
    """Refuse (exit 2) a migration whose file name is not UTF-8: it cannot be recorded or shown."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raw = path.name.encode("utf-8", "surrogateescape")
        raise ConfigError(
            f"{ascii(str(path.parent))[1:-1]}/{str(raw)[2:-1]}: the file name is not valid UTF-8 (byte offset "
            f"{len(path.name[:exc.start].encode('utf-8', 'surrogateescape'))} of the name): history tables and "
            "reports hold names as text; rename the file"
        ) from None


def read_migration_text(path: Path) -> str:
    """The text of a migration file, or a ConfigError (exit 2) naming the file and the byte offset.

    Refused up front: a NUL byte (libpq ends a query string at NUL, so the rest of the file would
    silently not run), bytes that are not UTF-8, and a file name that is not UTF-8.
    """
    check_file_name(path)
    try:
        with open(path, "rb", buffering=0) as file:  # read whole: no buffer, no pathlib layer (1,000s of files)
            data = file.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise ConfigError(
            f"{path}: a NUL byte at byte offset {nul} (line {_line_at(data, nul)}): PostgreSQL stops "
            "reading a query at NUL, so everything after it would silently not run; remove it"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid UTF-8 at byte offset {exc.start} (line {_line_at(data, exc.start)}): "
            "save the file as UTF-8"
        ) from None


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def sha256_file(path: Path) -> str:
    import hashlib  # here: OpenSSL's start-up is 2% of a plan of explicit PATHs, which hashes nothing

    return hashlib.sha256(path.read_bytes()).hexdigest()


def display_path(path: Path, base_dir: str) -> str:
    """``path`` relative to the config's folder when it is inside it, as reports show it."""
    try:
        return str(path.resolve().relative_to(Path(base_dir).resolve()))
    except ValueError:
        return str(path)


def history_sql(template: LiteralString, table: str) -> sql.Composed:
    """``template`` with ``{table}`` replaced by the quoted name of a history table."""
    from psycopg import sql  # here, not at the top: a static plan never loads psycopg (0.15 s of CPU)

    return sql.SQL(template).format(table=sql.Identifier(table))
