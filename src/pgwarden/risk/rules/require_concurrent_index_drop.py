"""require-concurrent-index-drop: DROP INDEX takes ACCESS EXCLUSIVE on the index's table.

The drop itself is quick, but while it queues behind a long query every other query on the
table queues behind it. DROP INDEX CONCURRENTLY waits without blocking anyone.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_from_names

ID = "require-concurrent-index-drop"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.DropStmt,)
SUGGESTION = "Use DROP INDEX CONCURRENTLY (one index per statement, outside a transaction)."


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.removeType != enums.ObjectType.OBJECT_INDEX or node.concurrent:
        return
    for names in node.objects or ():
        index = table_from_names(names)
        if index.name in ctx.state.new_indexes:
            continue
        yield Hit(Severity.MEDIUM, f"Drops index {index.display} without CONCURRENTLY: takes an ACCESS "
                  "EXCLUSIVE lock on its table, so all queries on it wait while the drop waits", SUGGESTION)
