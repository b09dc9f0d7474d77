"""truncate-table: TRUNCATE deletes every row at once under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_phrase
from pgwarden.risk.sqlast import table_of

ID = "truncate-table"
CATEGORY = Category.DATA_LOSS
NODES = (ast.TruncateStmt,)
SUGGESTION = (
    "Keep data removal out of schema migrations: delete in batches from a job you can stop, or "
    "copy what must survive first. If the table really is scratch data, say so with "
    "`-- pgwarden:ignore truncate-table <reason>`."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    cascade = stmt.node.behavior == enums.DropBehavior.DROP_CASCADE
    for relation in stmt.node.relations or ():
        table = table_of(relation)
        if table is None or ctx.is_new(table):
            continue
        facts = ctx.table(table)
        if facts is not None and facts.empty and not cascade:
            yield Hit(Severity.LOW, f"Truncates {table.display}, which is empty now", SUGGESTION, table,
                      facts.context)
            continue
        message = f"Deletes every row of {table.display}"
        if cascade:
            message += " and of every table that references it (CASCADE)"
        if facts is not None:
            message += f" ({size_phrase(facts)})"
        yield Hit(Severity.CRITICAL if cascade else Severity.HIGH, message, SUGGESTION, table,
                  facts.context if facts else {})
