"""drop-database: a migration that drops a database destroys everything in it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement

ID = "drop-database"
CATEGORY = Category.DATA_LOSS
NODES = (ast.DropdbStmt,)
SUGGESTION = "Never drop databases from a migration; retire a database by hand, after a verified backup."


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    yield Hit(Severity.CRITICAL, f"Drops database {stmt.node.dbname} and everything in it", SUGGESTION)
