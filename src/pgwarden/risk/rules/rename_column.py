"""rename-column: renaming a column breaks every running app instance that still uses the old name."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "rename-column"
CATEGORY = Category.BACKWARD_INCOMPATIBLE
NODES = (ast.RenameStmt,)
SUGGESTION = (
    "Expand/contract: add the new column, write both, backfill, switch reads to the new column, "
    "then drop the old one in a later release."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.renameType != enums.ObjectType.OBJECT_COLUMN or node.relationType != enums.ObjectType.OBJECT_TABLE:
        return
    table = table_of(node.relation)
    if table is None or ctx.is_new(table) or (table.key, node.subname) in ctx.state.new_columns:
        return
    yield Hit(Severity.HIGH, f"Renames column {table.display}.{node.subname} to {node.newname}: code still "
              "running the old release fails on the old name during and after the deploy", SUGGESTION, table)
