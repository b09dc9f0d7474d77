"""concurrently-in-prisma-migration: CONCURRENTLY in a Prisma migration.sql that holds other statements.

Prisma's native schema engine sends ``migration.sql`` to PostgreSQL as one query, which runs as one
implicit transaction: CREATE/DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY there fail with
"cannot run inside a transaction block" (several CONCURRENTLY statements in one file, or one next to
any other statement). The driver-adapter engine splits the file on ``;`` instead and runs the pieces
without a transaction, so there the same file applies, but not atomically. Prisma's layout is how the
rule knows the file: ``<timestamp>_<name>/migration.sql``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, is_prisma_file
from pgwarden.risk.sqlast import has_option

ID = "concurrently-in-prisma-migration"
CATEGORY = Category.TRANSACTION_SAFETY
NODES = None  # every statement: the rule counts the file's statements
SUGGESTION = (
    "Give each CONCURRENTLY statement a Prisma migration of its own (`prisma migrate dev --create-only`, "
    "then move the statement into the new folder's migration.sql), with nothing else in that file."
)
_SEEN = f"{ID}:seen"
_FIRST = f"{ID}:first-concurrently-line:"


def _concurrently(node: object) -> bool:
    if isinstance(node, ast.ReindexStmt):
        return has_option(node.params, "concurrently")
    if isinstance(node, (ast.IndexStmt, ast.DropStmt)):
        return bool(node.concurrent)
    return False


def _hit(what: str) -> Hit:
    return Hit(Severity.HIGH, f"{what}: Prisma's native engine sends migration.sql as one query, one implicit "
               "transaction, where PostgreSQL rejects CONCURRENTLY (\"cannot run inside a transaction block\"), "
               "so the migration fails; the driver-adapter engine runs it without a transaction instead",
               SUGGESTION)


def check(stmt: Statement, ctx: RuleContext) -> Iterable[Hit]:
    if not is_prisma_file(stmt.file):
        return ()
    return _check(stmt, ctx)


def _check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    memory = ctx.state.migration.reported
    seen_before = _SEEN in memory
    memory.add(_SEEN)
    if _concurrently(stmt.node):
        if seen_before:
            yield _hit("CONCURRENTLY in a migration.sql with other statements")
        else:
            memory.add(f"{_FIRST}{stmt.line}")
        return
    first = next((key for key in memory if key.startswith(_FIRST)), None)
    if first is not None:
        memory.discard(first)
        line = first.removeprefix(_FIRST)
        yield _hit(f"this migration.sql also holds a CONCURRENTLY statement (line {line})")
