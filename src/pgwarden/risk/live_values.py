"""Live questions about the values in a table and what the server offers, for rules that can
only tell "this will fail" from the data: duplicates under a new unique index, rows still
holding an enum label a recreated type drops, an extension the server does not ship.

:class:`~pgwarden.risk.context.LiveFacts` calls these with its own ``query`` (one read-only
transaction under ``risk.statement_timeout`` per call, ``None`` when it fails or times out).
Every count is bounded with ``LIMIT``: a rule needs "none", or "at least this many", never the
exact figure, and the scan stops as soon as it has seen enough. No value is read back: counts
only, so no row data reaches a report or a PR comment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgwarden.names import QualifiedName

if TYPE_CHECKING:
    from psycopg import sql

Query = Callable[["str | sql.Composable", tuple[Any, ...]], "list[tuple[Any, ...]] | None"]

#: Counting stops here: "at least 1,000 duplicated keys" says all a reviewer needs.
COUNT_CAP = 1_000


@dataclass(frozen=True)
class BoundedCount:
    """How many rows/keys matched, stopping at ``COUNT_CAP`` (``capped``: there are at least that many)."""

    count: int
    capped: bool

    @property
    def phrase(self) -> str:
        return f"at least {self.count:,}" if self.capped else f"{self.count:,}"


def _ident(value: QualifiedName | str) -> sql.Composable:
    from psycopg import sql  # loaded already: only LiveFacts, which was handed a connection, calls us

    if isinstance(value, QualifiedName):
        return sql.Identifier(value.name) if value.schema is None else sql.Identifier(value.schema, value.name)
    return sql.Identifier(value)


def duplicate_keys(query: Query, table: QualifiedName, keys: Sequence[str], predicate: str | None,
                   nulls_distinct: bool) -> BoundedCount | None:
    """Key values held by more than one row of ``table`` (keys with a NULL part excluded unless
    ``nulls_distinct`` is false), among the rows matching ``predicate`` (a partial index's WHERE).

    ``keys`` and ``predicate`` are SQL: quoted column names, or expressions deparsed by pglast from
    the migration's own parse tree (never text pasted from the file); they run in LiveFacts'
    read-only transaction, so they cannot write.
    """
    from psycopg import sql

    parts = [sql.SQL(k) for k in keys]  # type: ignore[arg-type]  # deparsed SQL, not a literal string
    cols = sql.SQL(", ").join(parts)
    conditions: list[sql.Composable] = []
    if nulls_distinct:
        conditions += [sql.SQL("({}) is not null").format(part) for part in parts]
    if predicate:
        conditions.append(sql.SQL("({})").format(sql.SQL(predicate)))  # type: ignore[arg-type]
    where = sql.SQL(" where ") + sql.SQL(" and ").join(conditions) if conditions else sql.SQL("")
    statement = sql.SQL(
        "select 1 from {table}{where} group by {cols} having count(*) > 1 limit {cap}"
    ).format(table=_ident(table), where=where, cols=cols, cap=sql.Literal(COUNT_CAP + 1))
    rows = query(statement, ())
    if rows is None:
        return None
    return BoundedCount(min(len(rows), COUNT_CAP), len(rows) > COUNT_CAP)


def enum_labels(query: Query, type_name: str) -> tuple[str, ...] | None:
    """The labels of enum type ``type_name`` (a pg_type.typname, or schema-qualified), in order;
    ``None`` when it is not an enum (or the lookup failed)."""
    rows = query("select e.enumlabel from pg_enum e join pg_type t on t.oid = e.enumtypid "
                 "where t.oid = to_regtype(%s) order by e.enumsortorder", (_regtype_text(type_name),))
    return tuple(str(r[0]) for r in rows) if rows else None


def _regtype_text(type_name: str) -> str:
    """``Role`` -> ``"Role"``: to_regtype folds unquoted names to lower case like SQL does."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in type_name.split("."))


def rows_holding(query: Query, table: QualifiedName, column: str, values: Sequence[str]) -> BoundedCount | None:
    """Rows of ``table`` whose ``column`` (as text) is one of ``values``."""
    from psycopg import sql

    statement = sql.SQL("select 1 from {table} where {col}::text = any(%s) limit {cap}").format(
        col=_ident(column), table=_ident(table), cap=sql.Literal(COUNT_CAP + 1))
    rows = query(statement, (list(values),))
    if rows is None:
        return None
    return BoundedCount(min(len(rows), COUNT_CAP), len(rows) > COUNT_CAP)


def rows_with_null(query: Query, table: QualifiedName, columns: Sequence[str]) -> BoundedCount | None:
    """Rows of ``table`` with a NULL in any of ``columns`` (a PRIMARY KEY over them fails on those)."""
    from psycopg import sql

    statement = sql.SQL("select 1 from {table} where {nulls} limit {cap}").format(
        table=_ident(table), nulls=sql.SQL(" or ").join(sql.SQL("{} is null").format(_ident(c)) for c in columns),
        cap=sql.Literal(COUNT_CAP + 1))
    rows = query(statement, ())
    if rows is None:
        return None
    return BoundedCount(min(len(rows), COUNT_CAP), len(rows) > COUNT_CAP)


@dataclass(frozen=True)
class ExtensionFacts:
    name: str
    #: pg_available_extensions: the server ships it (its control file is installed).
    available: bool
    installed_version: str | None = None


def extension(query: Query, name: str) -> ExtensionFacts | None:
    rows = query("select installed_version from pg_available_extensions where name = %s", (name,))
    if rows is None:
        return None
    if not rows:
        installed = query("select extversion from pg_extension where extname = %s", (name,))
        # Installed but its control file gone (a server upgrade without the package): still there.
        if installed:
            return ExtensionFacts(name, available=False, installed_version=str(installed[0][0]))
        return ExtensionFacts(name, available=False)
    version = rows[0][0]
    return ExtensionFacts(name, available=True, installed_version=None if version is None else str(version))
