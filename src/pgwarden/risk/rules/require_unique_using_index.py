"""require-unique-using-index: ADD UNIQUE / PRIMARY KEY builds its index under ACCESS EXCLUSIVE.

Build the index CONCURRENTLY first and attach it with USING INDEX: that step is instant.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "require-unique-using-index"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AddColumn, enums.AlterTableType.AT_AddConstraint})
_KINDS = {enums.ConstrType.CONSTR_UNIQUE: "UNIQUE", enums.ConstrType.CONSTR_PRIMARY: "PRIMARY KEY"}
SUGGESTION = (
    "CREATE UNIQUE INDEX CONCURRENTLY first (own migration, no transaction), then "
    "ALTER TABLE ... ADD CONSTRAINT name UNIQUE USING INDEX idx (or PRIMARY KEY USING INDEX idx)."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        constraint = cmd.def_
        if cmd.subtype == enums.AlterTableType.AT_AddColumn and isinstance(constraint, ast.ColumnDef):
            kind = next((c.contype for c in constraint.constraints or ()
                         if isinstance(c, ast.Constraint) and c.contype in _KINDS), None)
            if kind is not None:
                yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                               f"Adds column {constraint.colname} as {_KINDS[kind]}: its index is built "
                               f"on {table.display} under an ACCESS EXCLUSIVE lock", SUGGESTION,
                               work="reads and writes are blocked")
            continue
        if (
            cmd.subtype != enums.AlterTableType.AT_AddConstraint
            or not isinstance(constraint, ast.Constraint)
            or constraint.contype not in _KINDS
            or constraint.indexname
        ):
            continue
        yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                       f"Adds a {_KINDS[constraint.contype]} constraint on {table.display} without USING INDEX: "
                       "the index is built under an ACCESS EXCLUSIVE lock", SUGGESTION,
                       work="reads and writes are blocked")
