"""cluster: CLUSTER rewrites the table in index order under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "cluster"
CATEGORY = Category.TABLE_REWRITE
NODES = (ast.ClusterStmt,)
SUGGESTION = "Use pg_repack --order-by to reorder online, or run CLUSTER in a maintenance window."


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None:
        yield Hit(Severity.HIGH, "CLUSTER without a table rewrites every previously clustered table, each "
                  "under an ACCESS EXCLUSIVE lock", SUGGESTION)
        return
    if ctx.is_new(table):
        return
    yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                   f"CLUSTER rewrites {table.display} under an ACCESS EXCLUSIVE lock", SUGGESTION,
                   work="reads and writes are blocked")
