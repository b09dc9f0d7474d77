"""concurrently-in-transaction: CONCURRENTLY cannot run inside a transaction block.

CREATE/DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY between BEGIN and COMMIT fail with
"cannot run inside a transaction block", stopping the migration half way.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import has_option

ID = "concurrently-in-transaction"
CATEGORY = Category.TRANSACTION_SAFETY
NODES = (ast.IndexStmt, ast.DropStmt, ast.ReindexStmt)
SUGGESTION = (
    "Put the CONCURRENTLY statement in a migration of its own without BEGIN/COMMIT (Alembic: "
    "autocommit_block(); Laravel: $withinTransaction = false; Prisma: a migration with only that "
    "statement)."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.state.migration.in_transaction:
        return
    node = stmt.node
    if isinstance(node, ast.ReindexStmt):
        concurrent = has_option(node.params, "concurrently")
    else:
        concurrent = bool(node.concurrent)
    if concurrent:
        yield Hit(Severity.HIGH, "CONCURRENTLY inside BEGIN ... COMMIT fails: \"cannot run inside a "
                  "transaction block\"", SUGGESTION)
