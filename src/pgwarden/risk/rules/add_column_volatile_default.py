"""add-column-volatile-default: ADD COLUMN whose value differs per row rewrites the table.

Since PostgreSQL 11 a constant (or STABLE, like now()) default is stored once in the catalog
and costs nothing. A volatile default (random(), gen_random_uuid(), clock_timestamp()), a
serial/identity column or a STORED generated column must be computed for every existing row:
a full rewrite under ACCESS EXCLUSIVE. (PG 18 virtual generated columns are not stored: safe.)
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import (
    NON_VOLATILE_FUNCTIONS,
    SERIAL_TYPES,
    VOLATILE_FUNCTIONS,
    column_constraints,
    column_default,
    function_names,
    table_of,
    type_name,
)

ID = "add-column-volatile-default"
CATEGORY = Category.TABLE_REWRITE
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AddColumn})
SUGGESTION = (
    "Add the column without a default (or with a constant one), set the default for new rows "
    "with ALTER COLUMN ... SET DEFAULT, and backfill existing rows in batches."
)


def _why_rewrite(column: ast.ColumnDef, ctx: RuleContext) -> tuple[str, bool] | None:
    """(reason, certain) when adding this column computes a value per existing row."""
    if type_name(column.typeName)[0] in SERIAL_TYPES:
        return (f"{type_name(column.typeName)[0]} fills every row from a sequence", True)
    for constraint in column_constraints(column):
        if constraint.contype == enums.ConstrType.CONSTR_IDENTITY:
            return ("an identity column fills every row from a sequence", True)
        if constraint.contype == enums.ConstrType.CONSTR_GENERATED and constraint.generated_kind != "v":
            return ("a STORED generated column is computed for every row", True)
    default = column_default(column)
    if default is None:
        return None
    unknown = []
    for name in function_names(default):
        if name in VOLATILE_FUNCTIONS:
            return (f"the default calls {name}(), which is volatile", True)
        if name in NON_VOLATILE_FUNCTIONS:
            continue
        volatility = ctx.facts.function_volatility(name)
        if volatility == "v":
            return (f"the default calls {name}(), which is volatile", True)
        if volatility is None:
            unknown.append(name)
    if unknown:
        return (f"the default calls {unknown[0]}(); if that function is volatile every row is written", False)
    return None


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        if cmd.subtype != enums.AlterTableType.AT_AddColumn or not isinstance(cmd.def_, ast.ColumnDef):
            continue
        why = _why_rewrite(cmd.def_, ctx)
        if why is None:
            continue
        reason, certain = why
        yield size_hit(Severity.HIGH if certain else Severity.MEDIUM, ctx.size_facts(table, stmt), table,
                       f"Adding {table.display}.{cmd.def_.colname} rewrites the table: {reason}", SUGGESTION,
                       work="reads and writes are blocked")
