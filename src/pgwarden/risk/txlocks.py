"""Which existing tables the open transaction of a migration holds strong locks on, since when.

PostgreSQL keeps every lock a transaction takes until it ends. A migration file runs as one
transaction (Prisma's implicit one, Laravel's and Alembic's, pgwarden's own for plain SQL), or in
the blocks its explicit ``COMMIT``/``ROLLBACK`` ends: an ``ALTER TABLE`` at line 3 still blocks
every query on its table while a backfill at line 4 runs, and ten such ALTERs block ten tables
until the last statement is done.

The memory is the migration's ``held_locks`` of :class:`~pgwarden.risk.state.MigrationState` (it
resets per migration): a :class:`HeldLock` per table key, in the order taken. :func:`record` is
called once per statement by the ``lock-footprint`` rule, which sees every statement after the
statement-type rules did.
"""

from __future__ import annotations

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.risk.locks import strong_lock_tables
from pgwarden.risk.rule import RuleContext, Statement
from pgwarden.risk.state import HeldLock

__all__ = ["HeldLock", "held_lock", "held_locks", "record", "statement_kind"]

_ENDS = (
    enums.TransactionStmtKind.TRANS_STMT_COMMIT,
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
    enums.TransactionStmtKind.TRANS_STMT_PREPARE,
)


def held_locks(ctx: RuleContext) -> list[HeldLock]:
    """The strong locks the open transaction holds, in the order they were taken."""
    return sorted(ctx.state.migration.held_locks.values(), key=lambda lock: lock.line)


def held_lock(ctx: RuleContext, table: QualifiedName | None) -> HeldLock | None:
    """The strong lock the open transaction holds on ``table``, if any."""
    return None if table is None else ctx.state.migration.held_locks.get(table.key)


def statement_kind(node: object) -> str:
    """"ALTER TABLE", "CREATE INDEX": how a message names the statement that took the lock."""
    if isinstance(node, ast.AlterTableStmt):
        return "ALTER TABLE"
    if isinstance(node, ast.IndexStmt):
        return "CREATE INDEX"
    if isinstance(node, ast.LockStmt):
        return "LOCK TABLE"
    if isinstance(node, ast.RenameStmt):
        return "ALTER TABLE ... RENAME"
    if isinstance(node, ast.CreateTrigStmt):
        return "CREATE TRIGGER"
    return type(node).__name__.removesuffix("Stmt").upper()


def record(stmt: Statement, ctx: RuleContext) -> bool:
    """Remember the strong locks ``stmt`` takes on existing tables; forget them at COMMIT/ROLLBACK.

    True when the statement locked a table the transaction did not hold yet."""
    node = stmt.node
    node_type = type(node)
    if node_type is ast.TransactionStmt:
        if node.kind in _ENDS:
            ctx.state.migration.held_locks.clear()
        return False
    if node_type is ast.DropStmt:
        return False  # a dropped table is gone: nobody queues on it (drop-table reports the drop itself)
    tables = strong_lock_tables(node)
    if not tables:  # most statements
        return False
    held = ctx.state.migration.held_locks
    added = False
    for table in tables:
        if table is None or table.key in held or ctx.is_new(table):
            continue
        facts = ctx.size_facts(table, stmt)
        if facts is not None and facts.empty_because is not None:
            continue  # proven empty by this migration: no application writes to it
        held[table.key] = HeldLock(table.key, table.schema, table.name, stmt.line, statement_kind(node))
        added = True
    return added
