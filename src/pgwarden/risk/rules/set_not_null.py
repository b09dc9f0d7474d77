"""set-not-null: SET NOT NULL scans the whole table under ACCESS EXCLUSIVE, unless a validated
CHECK (col IS NOT NULL) already proves it (PostgreSQL 12+ then skips the scan)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pglast
from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.context import TableFacts
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import proves_not_null, table_of

ID = "set-not-null"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_SetNotNull})
SUGGESTION = (
    "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration, then "
    "SET NOT NULL (instant: the valid CHECK proves it) and drop the CHECK."
)


def _proven_live(facts: TableFacts, column: str) -> bool:
    for constraint in facts.constraints:
        if constraint.kind != "c" or not constraint.validated:
            continue
        try:
            tree = pglast.parse_sql(f"ALTER TABLE t ADD {constraint.definition}")
        except pglast.parser.ParseError:
            continue
        cmd: Any = tree[0].stmt.cmds[0]  # type: ignore[union-attr]
        if isinstance(cmd.def_, ast.Constraint) and proves_not_null(cmd.def_.raw_expr, column):
            return True
    return False


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        if cmd.subtype != enums.AlterTableType.AT_SetNotNull or not cmd.name:
            continue
        if (table.key, cmd.name) in ctx.state.proven_not_null:
            continue
        facts = ctx.size_facts(table, stmt)
        if facts is not None:
            column = facts.columns.get(cmd.name)
            if column is not None and column.not_null:
                continue
            if _proven_live(facts, cmd.name):
                continue
        yield size_hit(Severity.HIGH, facts, table,
                       f"SET NOT NULL on {table.display}.{cmd.name} scans every row under an ACCESS EXCLUSIVE "
                       "lock (no valid CHECK constraint proves it first)", SUGGESTION,
                       work="reads and writes are blocked")
