"""explicit-lock: LOCK TABLE in a mode that blocks writes (SHARE and up) on an existing table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.locks import LOCK_MODE_NAMES, SHARE_MODE
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "explicit-lock"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.LockStmt,)
SUGGESTION = (
    "Avoid explicit locks in migrations; if one is needed, SET lock_timeout first and keep the "
    "transaction short (the lock is held until COMMIT)."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if (node.mode or 0) < SHARE_MODE:
        return
    mode = LOCK_MODE_NAMES.get(node.mode, str(node.mode))
    for relation in node.relations or ():
        table = table_of(relation)
        if table is None or ctx.is_new(table):
            continue
        blocked = "reads and writes" if node.mode == max(LOCK_MODE_NAMES) else "writes"
        yield Hit(Severity.MEDIUM, f"LOCK {table.display} IN {mode} MODE blocks {blocked} until the "
                  "transaction ends", SUGGESTION, table)
