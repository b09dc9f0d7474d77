"""Which existing tables the open transaction of a migration holds strong locks on, since when.

PostgreSQL keeps every lock a transaction takes until it ends. A migration file runs as one
transaction (Prisma's implicit one, Laravel's and Alembic's, pgwarden's own for plain SQL), or in
the blocks its explicit ``COMMIT``/``ROLLBACK`` ends: an ``ALTER TABLE`` at line 3 still blocks
every query on its table while a backfill at line 4 runs, and ten such ALTERs block ten tables
until the last statement is done.

The memory lives in the migration's ``reported`` set of :class:`~pgwarden.risk.state.MigrationState`
(it resets per migration), one key per table. :func:`record` is called once per statement by the
``lock-footprint`` rule, which sees every statement after the statement-type rules did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.risk.locks import strong_lock_tables
from pgwarden.risk.rule import RuleContext, Statement

_KEY = "txlock\x00"
#: One more key per locked table, so "is this table locked?" is a set lookup.
_TABLE = "txlock-table\x00"
_ENDS = (
    enums.TransactionStmtKind.TRANS_STMT_COMMIT,
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
    enums.TransactionStmtKind.TRANS_STMT_PREPARE,
)


@dataclass(frozen=True)
class HeldLock:
    """A strong lock on an existing table, taken at ``line`` by a statement of ``kind``."""

    key: str
    schema: str | None
    name: str
    line: int
    kind: str

    @property
    def table(self) -> QualifiedName:
        return QualifiedName(self.schema, self.name)


def _encode(lock: HeldLock) -> str:
    return "\x00".join((_KEY.rstrip("\x00"), lock.key, lock.schema or "", lock.name, str(lock.line), lock.kind))


def held_locks(ctx: RuleContext) -> list[HeldLock]:
    """The strong locks the open transaction holds, in the order they were taken."""
    return sorted(_held(ctx), key=lambda lock: lock.line)


def _held(ctx: RuleContext) -> Iterator[HeldLock]:
    for entry in ctx.state.migration.reported:
        if entry.startswith(_KEY):
            _, key, schema, name, line, kind = entry.split("\x00")
            yield HeldLock(key, schema or None, name, int(line), kind)


def held_lock(ctx: RuleContext, table: QualifiedName | None) -> HeldLock | None:
    """The strong lock the open transaction holds on ``table``, if any."""
    if table is None or f"{_TABLE}{table.key}" not in ctx.state.migration.reported:
        return None
    return next((lock for lock in _held(ctx) if lock.key == table.key), None)


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
    reported = ctx.state.migration.reported
    node = stmt.node
    if isinstance(node, ast.TransactionStmt):
        if node.kind in _ENDS:
            for entry in [e for e in reported if e.startswith((_KEY, _TABLE))]:
                reported.discard(entry)
        return False
    if isinstance(node, ast.DropStmt):
        return False  # a dropped table is gone: nobody queues on it (drop-table reports the drop itself)
    added = False
    for table in strong_lock_tables(node):
        if table is None or f"{_TABLE}{table.key}" in reported or ctx.is_new(table):
            continue
        facts = ctx.size_facts(table, stmt)
        if facts is not None and facts.empty_because is not None:
            continue  # proven empty by this migration: no application writes to it
        reported.add(_encode(HeldLock(table.key, table.schema, table.name, stmt.line, statement_kind(node))))
        reported.add(f"{_TABLE}{table.key}")
        added = True
    return added
