"""require-concurrent-index: CREATE INDEX without CONCURRENTLY blocks writes for the whole build.

It takes a SHARE lock on the table: reads go on, every INSERT/UPDATE/DELETE waits until the
index is built. On a table created earlier in the same migration set there is nobody to block.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "require-concurrent-index"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.IndexStmt,)
SUGGESTION = (
    "Use CREATE INDEX CONCURRENTLY, in a migration of its own that does not run inside a "
    "transaction; if it fails, drop the INVALID index and retry."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    table = table_of(node.relation)
    if node.concurrent or table is None or ctx.is_new(table):
        return
    facts = ctx.size_facts(table, stmt)
    kind = "unique index" if node.unique else "index"
    yield size_hit(Severity.HIGH, facts, table,
                   f"Builds an {kind} on {table.display} without CONCURRENTLY: writes to the table wait "
                   "until the build finishes", SUGGESTION, work="writes are blocked")
