"""delete-without-where: DELETE with no WHERE removes every row of an existing table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_phrase
from pgwarden.risk.sqlast import table_of

ID = "delete-without-where"
CATEGORY = Category.DATA_LOSS
NODES = (ast.DeleteStmt,)
SUGGESTION = (
    "Add the WHERE clause that names the rows to remove, and delete large sets in batches "
    "(DELETE ... WHERE id IN (SELECT id ... LIMIT 10000)) from a job you can stop."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.whereClause is not None:
        return
    table = table_of(node.relation)
    if table is None or ctx.is_new(table):
        return
    facts = ctx.table(table)
    if facts is not None and facts.empty:
        yield Hit(Severity.LOW, f"Deletes every row of {table.display}, which is empty now", SUGGESTION, table,
                  facts.context)
        return
    message = f"Deletes every row of {table.display} (no WHERE clause)"
    if facts is not None:
        message += f" ({size_phrase(facts)})"
    yield Hit(Severity.HIGH, message, SUGGESTION, table, facts.context if facts else {})
