"""not-null-column-without-default: ADD COLUMN ... NOT NULL without DEFAULT on an existing table.

On a table with rows it fails ("column contains null values"); on an empty table it works but
every INSERT from the still-running old release fails. With live context pgwarden knows which.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_phrase
from pgwarden.risk.sqlast import column_default, column_fills_itself, column_is_not_null, table_of

ID = "not-null-column-without-default"
CATEGORY = Category.BACKWARD_INCOMPATIBLE
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AddColumn})
SUGGESTION = (
    "Add the column with a constant DEFAULT (metadata-only since PostgreSQL 11), or add it "
    "nullable, backfill, and enforce NOT NULL with CHECK ... NOT VALID + VALIDATE + SET NOT NULL."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        column = cmd.def_
        if cmd.subtype != enums.AlterTableType.AT_AddColumn or not isinstance(column, ast.ColumnDef):
            continue
        if not column_is_not_null(column) or column_default(column) is not None or column_fills_itself(column):
            continue
        where = f"{table.display}.{column.colname}"
        facts = ctx.table(table)
        # An earlier statement of this migration already requires the table empty (and is
        # reported for it): this column adds no failure of its own, only the broken inserts.
        empty_because = ctx.state.empty_because(table) if facts is None else None
        if empty_because is not None:
            yield Hit(Severity.MEDIUM, f"Adds NOT NULL column {where} without a default: {empty_because}, "
                      "so this adds no failure of its own, but inserts from the running release that omit "
                      "the column will fail", SUGGESTION, table, {"empty_because": empty_because})
        elif facts is None:
            yield Hit(Severity.HIGH, f"Adds NOT NULL column {where} without a default: fails if the table has "
                      "rows, and breaks inserts from the running release if it has none", SUGGESTION, table)
        elif facts.empty:
            yield Hit(Severity.MEDIUM, f"Adds NOT NULL column {where} without a default: the table is empty, "
                      "but inserts from the running release that omit the column will fail", SUGGESTION,
                      table, facts.context)
        else:
            yield Hit(Severity.HIGH, f"Adds NOT NULL column {where} without a default, but {size_phrase(facts)}: "
                      "the migration will fail with \"column contains null values\"", SUGGESTION, table,
                      facts.context, category=Category.WILL_FAIL)
