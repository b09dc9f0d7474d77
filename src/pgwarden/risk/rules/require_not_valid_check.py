"""require-not-valid-check: ADD CHECK scans every row under ACCESS EXCLUSIVE (no reads, no writes)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "require-not-valid-check"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AddConstraint})
SUGGESTION = (
    "Add the CHECK constraint with NOT VALID (instant; new rows are checked), then run "
    "ALTER TABLE ... VALIDATE CONSTRAINT in a later migration: it scans without blocking writes."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        constraint = cmd.def_
        if (
            cmd.subtype != enums.AlterTableType.AT_AddConstraint
            or not isinstance(constraint, ast.Constraint)
            or constraint.contype != enums.ConstrType.CONSTR_CHECK
            or constraint.skip_validation
        ):
            continue
        name = f" {constraint.conname}" if constraint.conname else ""
        yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                       f"Adds CHECK constraint{name} on {table.display} without NOT VALID: every row is "
                       "checked under an ACCESS EXCLUSIVE lock", SUGGESTION, work="reads and writes are blocked")
