"""transaction-in-prisma-migration: an explicit COMMIT/ROLLBACK in a Prisma migration.sql that goes on.

Prisma's native schema engine sends ``migration.sql`` as one query, which PostgreSQL runs as one
implicit transaction: all of it applies, or none. A ``COMMIT`` written in the file commits what
came before it there and then; when a later statement fails, the earlier blocks stay applied,
``_prisma_migrations`` marks the migration failed, and ``prisma migrate resolve`` has to be told
what is in the database. A ``ROLLBACK`` silently undoes the blocks before it. A ``BEGIN`` at the
top and ``COMMIT`` as the very last statement change nothing, so only a statement after the
transaction ends is reported. Prisma's layout is how the rule knows the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, is_prisma_file

ID = "transaction-in-prisma-migration"
CATEGORY = Category.TRANSACTION_SAFETY
NODES = None  # every statement: it looks for one that follows a COMMIT/ROLLBACK
SUGGESTION = (
    "Remove BEGIN/COMMIT from migration.sql: Prisma already runs the file as one transaction. Put work "
    "that must commit separately into its own migration (`prisma migrate dev --create-only`)."
)
_ENDED = f"{ID}:ended-at:"
_ENDS = {
    enums.TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
}


def check(stmt: Statement, ctx: RuleContext) -> Iterable[Hit]:
    if not is_prisma_file(stmt.file):
        return ()
    return _check(stmt, ctx)


def _check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    reported = ctx.state.migration.reported
    node = stmt.node
    if isinstance(node, ast.TransactionStmt):
        if node.kind in _ENDS and not any(e.startswith(_ENDED) for e in reported):
            reported.add(f"{_ENDED}{stmt.line}:{_ENDS[node.kind]}")
        return
    ended = next((e for e in reported if e.startswith(_ENDED)), None)
    if ended is None or not ctx.once_per_migration(ID):
        return
    line, word = ended.removeprefix(_ENDED).split(":")
    if word == "ROLLBACK":
        yield Hit(Severity.HIGH, f"The ROLLBACK at line {line} undoes what this migration.sql ran before it, and "
                  "Prisma records the migration as applied: those changes silently never happen", SUGGESTION)
        return
    yield Hit(Severity.MEDIUM, f"The COMMIT at line {line} commits this migration.sql's statements before it "
              "on its own: if this statement or a later one fails, the earlier part stays applied while Prisma "
              "marks the migration failed (the file is no longer atomic)", SUGGESTION)
