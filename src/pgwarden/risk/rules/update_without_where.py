"""update-without-where: UPDATE with no WHERE overwrites and locks every row of an existing table.

Backfills legitimately do this, so it is medium: it becomes high only on a big table, where
one UPDATE holds row locks on everything for minutes and writes a new version of every row.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "update-without-where"
CATEGORY = Category.DATA_LOSS
NODES = (ast.UpdateStmt,)
SUGGESTION = (
    "Backfill in batches outside the schema migration (UPDATE ... WHERE id BETWEEN x AND y, "
    "committing each batch), and make sure the old values are not needed or are in the backup."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.whereClause is not None:
        return
    table = table_of(node.relation)
    if table is None or ctx.is_new(table):
        return
    yield size_hit(Severity.MEDIUM, ctx.table(table), table,
                   f"Overwrites the updated columns in every row of {table.display} (no WHERE clause)",
                   SUGGESTION, work="every row stays locked")
