"""require-concurrent-refresh: REFRESH MATERIALIZED VIEW blocks reads of the view until done."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "require-concurrent-refresh"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.RefreshMatViewStmt,)
SUGGESTION = (
    "Use REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view), or refresh "
    "from a scheduled job instead of a migration."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    view = table_of(node.relation)
    if node.concurrent or node.skipData or view is None or ctx.is_new(view):
        return
    yield size_hit(Severity.HIGH, ctx.size_facts(view, stmt), view,
                   f"REFRESH MATERIALIZED VIEW {view.display} without CONCURRENTLY: reads of the view wait "
                   "until the query behind it has run again", SUGGESTION, work="reads are blocked")
