"""require-concurrent-index-drop: DROP INDEX takes ACCESS EXCLUSIVE on the index's table.

The drop itself is quick, but while it queues behind a long query every other query on the
table queues behind it. DROP INDEX CONCURRENTLY waits without blocking anyone.

DROP INDEX names no table, so the table is looked up live (the index's ``pg_index.indrelid``)
and the finding is sized by it like any lock: an empty or tiny table is low. An index on a table
the migration set creates, or drops anyway (DROP TABLE takes the same lock and is reported
itself), gives no finding; without a database, a Prisma-named index (``<Table>_<columns>_idx``)
of a table the set drops is taken as that table's.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_from_names

ID = "require-concurrent-index-drop"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.DropStmt,)
SUGGESTION = "Use DROP INDEX CONCURRENTLY (one index per statement, outside a transaction)."

#: How Prisma names the indexes and constraints it creates: <Table>_<columns>_<suffix>.
_PRISMA_SUFFIXES = ("_idx", "_key", "_pkey", "_fkey")


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.removeType != enums.ObjectType.OBJECT_INDEX or node.concurrent:
        return
    for names in node.objects or ():
        index = table_from_names(names)
        if index.name in ctx.state.new_indexes:
            continue
        table = ctx.facts.index_table(index) if ctx.facts.live else _prisma_table(index, ctx.dropped_tables)
        if table is not None and (table.key in {t.key for t in ctx.dropped_tables} or ctx.is_new(table)):
            continue
        if table is None:
            yield Hit(Severity.MEDIUM, f"Drops index {index.display} without CONCURRENTLY: takes an ACCESS "
                      "EXCLUSIVE lock on its table, so all queries on it wait while the drop waits", SUGGESTION)
            continue
        yield size_hit(Severity.MEDIUM, ctx.size_facts(table, stmt), table,
                       f"Drops index {index.display} on {table.display} without CONCURRENTLY: takes an ACCESS "
                       f"EXCLUSIVE lock on {table.display}, so all queries on it wait while the drop waits",
                       SUGGESTION)


def _prisma_table(index: QualifiedName, dropped: frozenset[QualifiedName]) -> QualifiedName | None:
    """The dropped table a Prisma-named index belongs to, when exactly one fits its name."""
    if not index.name.endswith(_PRISMA_SUFFIXES):
        return None
    fits = [table for table in dropped if table.schema_or_public == index.schema_or_public
            and index.name.startswith(table.name + "_")]
    return fits[0] if len(fits) == 1 else None
