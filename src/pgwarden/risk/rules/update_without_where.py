"""update-without-where: UPDATE with no WHERE overwrites and locks every row of an existing table.

Backfills legitimately do this, so it is medium: it becomes high only on a big table, where
one UPDATE holds row locks on everything for minutes and writes a new version of every row.
A backfill of columns added earlier in the migration set overwrites nothing (they hold only
what the ADD COLUMN put there): it is no data loss, only the lock and the write of every row,
low unless the table is big.
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
BACKFILL_SUGGESTION = (
    "On a big table, backfill in batches outside the schema migration (UPDATE ... WHERE id BETWEEN "
    "x AND y, committing each batch), or give the column a constant DEFAULT when it is added."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.whereClause is not None:
        return
    table = table_of(node.relation)
    if table is None or ctx.is_new(table):
        return
    columns = [target.name for target in node.targetList or () if isinstance(target, ast.ResTarget)]
    facts = ctx.size_facts(table, stmt)
    if columns and all((table.key, column) in ctx.state.new_columns for column in columns):
        names = ", ".join(f"{table.display}.{column}" for column in columns)
        hit = size_hit(Severity.LOW, facts, table,
                       f"Backfills {names}, added earlier in this migration set: it overwrites nothing, but "
                       f"writes a new version of every row of {table.display} (no WHERE clause)",
                       BACKFILL_SUGGESTION, work="every row stays locked")
        hit.category = Category.BLOCKING_LOCK
        yield hit
        return
    yield size_hit(Severity.MEDIUM, facts, table,
                   f"Overwrites the updated columns in every row of {table.display} (no WHERE clause)",
                   SUGGESTION, work="every row stays locked")
