"""require-not-valid-foreign-key: ADD FOREIGN KEY checks every row while blocking writes.

It takes SHARE ROW EXCLUSIVE on both tables and scans the referencing table. Adding it
NOT VALID is instant; VALIDATE CONSTRAINT later only takes SHARE UPDATE EXCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "require-not-valid-foreign-key"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AddConstraint})
SUGGESTION = (
    "Add the foreign key with NOT VALID, then run ALTER TABLE ... VALIDATE CONSTRAINT in a later "
    "migration (its own transaction), which does not block writes."
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
            or constraint.contype != enums.ConstrType.CONSTR_FOREIGN
            or constraint.skip_validation
        ):
            continue
        target = table_of(constraint.pktable)
        yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                       f"Adds a foreign key on {table.display}"
                       + (f" to {target.display}" if target else "")
                       + " without NOT VALID: every row is checked while writes to both tables wait",
                       SUGGESTION, work="writes are blocked")
