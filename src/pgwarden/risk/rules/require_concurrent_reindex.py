"""require-concurrent-reindex: REINDEX without CONCURRENTLY blocks writes (and reads using the index)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import has_option, table_of

ID = "require-concurrent-reindex"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.ReindexStmt,)
SUGGESTION = "Use REINDEX ... CONCURRENTLY (PostgreSQL 12+), outside a transaction."
_WIDE = {
    enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA: "schema",
    enums.ReindexObjectType.REINDEX_OBJECT_DATABASE: "database",
    enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM: "system catalog",
}


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if has_option(node.params, "concurrently"):
        return
    if node.kind in _WIDE:
        yield Hit(Severity.CRITICAL, f"REINDEX of a whole {_WIDE[node.kind]} without CONCURRENTLY blocks "
                  "writes to every table in it, one after another", SUGGESTION)
        return
    table = table_of(node.relation)
    if node.kind == enums.ReindexObjectType.REINDEX_OBJECT_INDEX:
        if table is not None and table.name in ctx.state.new_indexes:
            return
        yield Hit(Severity.HIGH, f"REINDEX INDEX {table.display if table else ''} without CONCURRENTLY "
                  "blocks writes to its table and reads that use the index", SUGGESTION)
        return
    if table is None or ctx.is_new(table):
        return
    yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                   f"REINDEX TABLE {table.display} without CONCURRENTLY blocks writes while every index "
                   "is rebuilt", SUGGESTION, work="writes are blocked")
