"""concurrent-index-if-not-exists: CREATE INDEX CONCURRENTLY IF NOT EXISTS skips an INVALID index.

A concurrent build that fails (a deadlock, a duplicate in a UNIQUE index, a statement_timeout, a
cancelled deploy) leaves the index behind, marked INVALID: it is maintained on every write but
never used for reads, and a unique one does not enforce anything. The migration's rerun then finds
an index of that name and ``IF NOT EXISTS`` skips the build with only a NOTICE, so the deploy
"succeeds" without the index. Without IF NOT EXISTS the rerun fails loudly instead. With live
context an INVALID index of that name in the database now makes the finding high.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "concurrent-index-if-not-exists"
CATEGORY = Category.TRANSACTION_SAFETY
NODES = (ast.IndexStmt,)
SUGGESTION = (
    "Drop a leftover invalid index before building it: DROP INDEX CONCURRENTLY IF EXISTS <name>; then "
    "CREATE INDEX CONCURRENTLY <name> ... without IF NOT EXISTS (or check pg_index.indisvalid for it "
    "after the build and fail the deploy when it is false)."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if not node.concurrent or not node.if_not_exists:
        return
    table = table_of(node.relation)
    if table is not None and ctx.is_new(table):
        return
    name = node.idxname or "the index"
    if node.idxname and ctx.facts.index_valid(QualifiedName(table.schema if table else None, node.idxname)) is False:
        yield Hit(Severity.HIGH,
                  f"An INVALID index {name} exists in the database now (a failed concurrent build left it): "
                  "IF NOT EXISTS skips this build with a NOTICE and the migration succeeds without a usable "
                  f"{name}", SUGGESTION, table, {"index_valid": False})
        return
    yield Hit(Severity.MEDIUM,
              f"If a concurrent build of {name} fails, PostgreSQL keeps it as an INVALID index, and on the "
              f"rerun IF NOT EXISTS skips the build with a NOTICE: the migration succeeds without a usable "
              f"{name}", SUGGESTION, table)
