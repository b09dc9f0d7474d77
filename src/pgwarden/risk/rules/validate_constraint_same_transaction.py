"""validate-constraint-same-transaction: NOT VALID then VALIDATE in one transaction gains nothing.

A migration file runs as one transaction (explicitly, or because the tool wraps it). The lock
taken by ADD CONSTRAINT ... NOT VALID (ACCESS EXCLUSIVE for CHECK, SHARE ROW EXCLUSIVE for a
foreign key) is then still held while VALIDATE scans the table.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "validate-constraint-same-transaction"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_ValidateConstraint})
SUGGESTION = (
    "Move ALTER TABLE ... VALIDATE CONSTRAINT into the next migration (or put COMMIT between the "
    "two statements) so the validation runs without the ADD's lock."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        if cmd.subtype != enums.AlterTableType.AT_ValidateConstraint or not cmd.name:
            continue
        if (table.key, cmd.name) not in ctx.state.migration.not_valid_here:
            continue
        yield size_hit(Severity.MEDIUM, ctx.size_facts(table, stmt), table,
                       f"Validates {cmd.name} in the same transaction that added it NOT VALID: the ADD's "
                       "lock is held during the whole validation scan", SUGGESTION, work="writes are blocked")
