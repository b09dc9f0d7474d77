"""drop-table: DROP TABLE deletes the table and its data, and breaks code still reading it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_phrase
from pgwarden.risk.sqlast import table_from_names

ID = "drop-table"
CATEGORY = Category.DATA_LOSS
NODES = (ast.DropStmt,)
SUGGESTION = (
    "Drop in two releases: first ship code that no longer uses the table, then drop it (after a "
    "verified backup); or rename it to a _deprecated name first and drop it a release later."
)
#: The second consequence, whatever the data: the release still running queries the table.
BREAKS = (", and the release still running fails on every query of it until code without it is deployed "
          "(backward-incompatible: deploy that code first)")


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.removeType != enums.ObjectType.OBJECT_TABLE:
        return
    for names in node.objects or ():
        table = table_from_names(names)
        if ctx.is_new(table):
            continue
        facts = ctx.table(table)
        if facts is not None and facts.empty:
            yield Hit(Severity.LOW, f"Drops table {table.display}, which is empty now{BREAKS}", SUGGESTION, table,
                      facts.context)
            continue
        message = f"Drops table {table.display} and all its data"
        if facts is not None:
            message += f" ({size_phrase(facts)})"
        yield Hit(Severity.HIGH, message + BREAKS, SUGGESTION, table, facts.context if facts else {})
