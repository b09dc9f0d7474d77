"""rename-table: renaming a table breaks every running app instance that still uses the old name."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "rename-table"
CATEGORY = Category.BACKWARD_INCOMPATIBLE
NODES = (ast.RenameStmt,)
SUGGESTION = (
    "Expand/contract: create the new table (or a view with the new name over the old table), "
    "deploy code that uses the new name, then drop the old name in a later release."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.renameType != enums.ObjectType.OBJECT_TABLE:
        return
    table = table_of(node.relation)
    if table is None or ctx.is_new(table):
        return
    yield Hit(Severity.HIGH, f"Renames table {table.display} to {node.newname}: code still running the old "
              "release fails on the old name during and after the deploy", SUGGESTION, table)
