"""set-logged-unlogged: ALTER TABLE SET LOGGED / SET UNLOGGED rewrites the whole table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of

ID = "set-logged-unlogged"
CATEGORY = Category.TABLE_REWRITE
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_SetLogged, enums.AlterTableType.AT_SetUnLogged})
SUGGESTION = (
    "Do it in a maintenance window, or create a new table with the wanted persistence, copy the "
    "rows in batches and swap names. Remember an UNLOGGED table is emptied after a crash and "
    "is not replicated."
)
_SUBTYPES = {enums.AlterTableType.AT_SetLogged: "SET LOGGED", enums.AlterTableType.AT_SetUnLogged: "SET UNLOGGED"}


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        if cmd.subtype in _SUBTYPES:
            yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                           f"{_SUBTYPES[cmd.subtype]} rewrites {table.display} under an ACCESS EXCLUSIVE lock",
                           SUGGESTION, work="reads and writes are blocked")
