"""Live table context for the risk rules: what the production tables look like right now.

Rules never talk to a database. They ask a :class:`FactsSource` about a table; the engine
hands them :class:`NoFacts` for a static plan, or :class:`LiveFacts` over a read-only
connection. LiveFacts runs each lookup in its own read-only transaction with a short
``statement_timeout`` (``risk.statement_timeout``), caches the answer per table, and treats a
query that fails or times out as "unknown" so a slow catalog never blocks a plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pgwarden.names import QualifiedName

if TYPE_CHECKING:
    # Imported where used instead: psycopg is 60% of the import time of a static review,
    # which never opens a connection (and live_values only serves LiveFacts).
    import psycopg
    from psycopg import sql

    from pgwarden.risk.live_values import BoundedCount, ExtensionFacts

log = logging.getLogger(__name__)

#: Above this many rows the non-null count of a dropped column is sampled, not counted.
SAMPLE_ABOVE_ROWS = 1_000_000
#: About this many rows are read when sampling.
SAMPLE_TARGET_ROWS = 200_000


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    #: pg_type.typname: varchar, int4, numeric, text... (arrays start with "_").
    type_name: str
    #: Decoded type modifiers: varchar(50) -> (50,), numeric(10,2) -> (10, 2), none -> ().
    mods: tuple[int, ...]
    #: format_type() output, for messages: "character varying(50)".
    display_type: str
    not_null: bool


@dataclass(frozen=True)
class ConstraintFacts:
    name: str
    #: pg_constraint.contype: c check, f foreign key, p primary key, u unique, n not null, x exclusion.
    kind: str
    validated: bool
    definition: str


@dataclass
class TableFacts:
    """What the database says about one table (or materialized view)."""

    table: str
    exists: bool
    rows: int | None = None
    bytes: int = 0
    empty: bool = False
    kind: str = "r"
    columns: dict[str, ColumnFacts] = field(default_factory=dict)
    constraints: list[ConstraintFacts] = field(default_factory=list)
    #: Set when the migration itself proves the table empty (not measured): why, in words.
    empty_because: str | None = None

    @classmethod
    def known_empty(cls, name: QualifiedName, reason: str) -> TableFacts:
        """A table no database was asked about, known empty from the migration's own statements."""
        return cls(table=name.display, exists=True, rows=0, empty=True, empty_because=reason)

    @property
    def context(self) -> dict[str, Any]:
        """The ``context`` of a finding about this table (no size for one that was not measured)."""
        if self.empty_because is not None:
            return {"empty_because": self.empty_because}
        result: dict[str, Any] = {"rows": self.rows, "bytes": self.bytes}
        return result


@dataclass(frozen=True)
class NonNullCount:
    count: int
    sampled: bool


class FactsSource(Protocol):
    """Where rules get live facts; ``None`` answers mean "not known"."""

    live: bool

    def table(self, name: QualifiedName) -> TableFacts | None: ...

    def non_null_count(self, name: QualifiedName, column: str) -> NonNullCount | None: ...

    def function_volatility(self, name: str) -> str | None: ...

    # Values and server offers (risk/live_values.py): what only the data can tell will fail.
    def duplicate_keys(self, name: QualifiedName, keys: tuple[str, ...], predicate: str | None,
                       nulls_distinct: bool) -> BoundedCount | None: ...

    def enum_labels(self, type_name: str) -> tuple[str, ...] | None: ...

    def rows_holding(self, name: QualifiedName, column: str, values: tuple[str, ...]) -> BoundedCount | None: ...

    def rows_with_null(self, name: QualifiedName, columns: tuple[str, ...]) -> BoundedCount | None: ...

    def extension(self, name: str) -> ExtensionFacts | None: ...

    def index_table(self, index: QualifiedName) -> QualifiedName | None:
        """The table an existing index is on (DROP INDEX names none)."""
        ...

    def index_valid(self, index: QualifiedName) -> bool | None:
        """Whether an index of this name exists and is valid (False: INVALID, left by a failed
        concurrent build); None when there is none or it is not known."""
        ...


class NoFacts:
    """A static plan: nothing is known about the database."""

    live = False

    def table(self, name: QualifiedName) -> TableFacts | None:
        return None

    def non_null_count(self, name: QualifiedName, column: str) -> NonNullCount | None:
        return None

    def function_volatility(self, name: str) -> str | None:
        return None

    # Values and server offers: unknown without a database.
    def duplicate_keys(self, name: QualifiedName, keys: tuple[str, ...], predicate: str | None,
                       nulls_distinct: bool) -> BoundedCount | None:
        return None

    def enum_labels(self, type_name: str) -> tuple[str, ...] | None:
        return None

    def rows_holding(self, name: QualifiedName, column: str, values: tuple[str, ...]) -> BoundedCount | None:
        return None

    def rows_with_null(self, name: QualifiedName, columns: tuple[str, ...]) -> BoundedCount | None:
        return None

    def extension(self, name: str) -> ExtensionFacts | None:
        return None

    def index_table(self, index: QualifiedName) -> QualifiedName | None:
        return None

    def index_valid(self, index: QualifiedName) -> bool | None:
        return None


def decode_typmod(type_name: str, typmod: int) -> tuple[int, ...]:
    """Turn pg_attribute.atttypmod into the numbers written in SQL (varchar(50), numeric(10,2))."""
    if typmod < 0:
        return ()
    base = type_name.lstrip("_")
    if base in ("varchar", "bpchar"):
        return (typmod - 4,)
    if base == "numeric":
        value = typmod - 4
        return ((value >> 16) & 0xFFFF, value & 0xFFFF)
    if base in ("timestamp", "timestamptz", "time", "timetz", "interval", "bit", "varbit"):
        return (typmod,)
    return ()


_TABLE_SQL = """
select c.oid, c.relkind, c.reltuples::bigint, pg_total_relation_size(c.oid),
       coalesce(s.n_live_tup, 0)
  from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
 where c.oid = to_regclass(%s)
"""
_COLUMNS_SQL = """
select a.attname, t.typname, a.atttypmod, format_type(a.atttypid, a.atttypmod), a.attnotnull
  from pg_attribute a join pg_type t on t.oid = a.atttypid
 where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
"""
_INDEX_TABLE_SQL = """
select n.nspname, t.relname
  from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
 where i.indexrelid = to_regclass(%s)
"""
_INDEX_VALID_SQL = "select indisvalid from pg_index where indexrelid = to_regclass(%s)"
_CONSTRAINTS_SQL = """
select conname, contype::text, convalidated, pg_get_constraintdef(oid)
  from pg_constraint where conrelid = %s
"""


def _sql(template: str, *parts: QualifiedName | str | float) -> sql.Composed:
    """``template`` with each ``{}`` filled: a table or column name quoted as an identifier by
    psycopg.sql, a number as a literal."""
    from psycopg import sql  # loaded already: only LiveFacts, which was handed a connection, runs SQL

    def part(value: QualifiedName | str | float) -> sql.Composable:
        if isinstance(value, QualifiedName):
            return sql.Identifier(value.name) if value.schema is None else sql.Identifier(value.schema, value.name)
        if isinstance(value, str):
            return sql.Identifier(value)
        return sql.Literal(value)

    return sql.SQL(template).format(*(part(value) for value in parts))


class LiveFacts:
    """Facts read from a live database through a read-only connection, cached per table."""

    live = True

    def __init__(self, conn: psycopg.Connection[Any], statement_timeout_s: float = 5.0) -> None:
        self.conn = conn
        self.timeout_ms = max(1, int(statement_timeout_s * 1000))
        self._tables: dict[str, TableFacts | None] = {}
        self._non_null: dict[tuple[str, str], NonNullCount | None] = {}
        self._volatility: dict[str, str | None] = {}
        #: Lookups that failed (timeout, permissions): reported by the engine as context.
        self.errors: list[str] = []

    def _query(self, query: str | sql.Composable, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        import psycopg  # already loaded: the caller handed us a connection

        try:
            with self.conn.transaction():
                # SET LOCAL: the limits end with this transaction and never leak into the
                # caller's session; READ ONLY makes "context is read-only" a server guarantee.
                self.conn.execute("set transaction read only")
                self.conn.execute(f"set local statement_timeout = {self.timeout_ms}")
                return self.conn.execute(query, params).fetchall()  # type: ignore[arg-type]
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.errors.append(message)
            log.debug("live context query failed: %s", message)
            return None

    def table(self, name: QualifiedName) -> TableFacts | None:
        if name.key not in self._tables:
            self._tables[name.key] = self._read_table(name)
        return self._tables[name.key]

    def _read_table(self, name: QualifiedName) -> TableFacts | None:
        rows = self._query(_TABLE_SQL, (name.regclass_text,))
        if rows is None:
            return None
        if not rows:
            return TableFacts(table=name.display, exists=False)
        oid, kind, reltuples, size, live_tuples = rows[0]
        probe = self._query(_sql("select exists (select 1 from {})", name), ())
        empty = bool(probe is not None and not probe[0][0])
        estimate = max(int(reltuples), int(live_tuples))
        row_count: int | None = 0 if empty else (estimate if estimate > 0 else None)
        facts = TableFacts(table=name.display, exists=True, rows=row_count, bytes=int(size), empty=empty,
                           kind=str(kind))
        for colname, typname, typmod, display, not_null in self._query(_COLUMNS_SQL, (oid,)) or []:
            facts.columns[colname] = ColumnFacts(colname, typname, decode_typmod(typname, typmod), display,
                                                 bool(not_null))
        for conname, contype, validated, definition in self._query(_CONSTRAINTS_SQL, (oid,)) or []:
            facts.constraints.append(ConstraintFacts(conname, contype, bool(validated), definition))
        return facts

    def non_null_count(self, name: QualifiedName, column: str) -> NonNullCount | None:
        key = (name.key, column)
        if key not in self._non_null:
            self._non_null[key] = self._count_non_null(name, column)
        return self._non_null[key]

    def _count_non_null(self, name: QualifiedName, column: str) -> NonNullCount | None:
        facts = self.table(name)
        if facts is None or not facts.exists or column not in facts.columns:
            return None
        if facts.empty:
            return NonNullCount(0, sampled=False)
        if facts.rows is not None and facts.rows > SAMPLE_ABOVE_ROWS:
            # A full count(col) of a huge table could outlive statement_timeout; a block
            # sample of ~200k rows gives the order of magnitude a reviewer needs.
            percent = round(max(0.001, min(100.0, 100.0 * SAMPLE_TARGET_ROWS / facts.rows)), 6)
            rows = self._query(_sql("select count({}) from {} tablesample system ({})", column, name,
                                    percent), ())
            if rows is None:
                return None
            return NonNullCount(int(rows[0][0] * 100.0 / percent), sampled=True)
        rows = self._query(_sql("select count({}) from {}", column, name), ())
        return None if rows is None else NonNullCount(int(rows[0][0]), sampled=False)

    def function_volatility(self, name: str) -> str | None:
        if name not in self._volatility:
            rows = self._query("select distinct provolatile::text from pg_proc where proname = %s", (name,))
            # Overloads can differ; report the worst ('v' > 's' > 'i') so we never under-warn.
            kinds = {r[0] for r in rows or []}
            self._volatility[name] = next((k for k in ("v", "s", "i") if k in kinds), None)
        return self._volatility[name]

    # Values and server offers (risk/live_values.py), each bounded and under the same timeout.
    def duplicate_keys(self, name: QualifiedName, keys: tuple[str, ...], predicate: str | None,
                       nulls_distinct: bool) -> BoundedCount | None:
        from pgwarden.risk import live_values

        return live_values.duplicate_keys(self._query, name, keys, predicate, nulls_distinct)

    def enum_labels(self, type_name: str) -> tuple[str, ...] | None:
        from pgwarden.risk import live_values

        return live_values.enum_labels(self._query, type_name)

    def rows_holding(self, name: QualifiedName, column: str, values: tuple[str, ...]) -> BoundedCount | None:
        from pgwarden.risk import live_values

        return live_values.rows_holding(self._query, name, column, values)

    def rows_with_null(self, name: QualifiedName, columns: tuple[str, ...]) -> BoundedCount | None:
        from pgwarden.risk import live_values

        return live_values.rows_with_null(self._query, name, columns)

    def extension(self, name: str) -> ExtensionFacts | None:
        from pgwarden.risk import live_values

        return live_values.extension(self._query, name)

    def index_table(self, index: QualifiedName) -> QualifiedName | None:
        rows = self._query(_INDEX_TABLE_SQL, (index.regclass_text,))
        if not rows:
            return None
        schema, name = rows[0]
        return QualifiedName(None if schema == "public" else str(schema), str(name))

    def index_valid(self, index: QualifiedName) -> bool | None:
        rows = self._query(_INDEX_VALID_SQL, (index.regclass_text,))
        return bool(rows[0][0]) if rows else None
