"""backfill-under-lock: an UPDATE of an existing table after a strong lock on it in the same transaction.

PostgreSQL keeps a transaction's locks to its end. The usual "add the column, fill it, make it
NOT NULL" migration runs ``ALTER TABLE t ADD COLUMN ...`` and then ``UPDATE t SET ... WHERE/FROM``
in one transaction (Prisma, Laravel and Alembic run each migration as one), so the ALTER's ACCESS
EXCLUSIVE lock, which blocks even reads, is held for the whole update: on a big table every query
on it waits minutes. It applies with or without WHERE: an UPDATE of every row also meets
``update-without-where`` (which weighs its own row locks and, for a new column, finds no data lost);
the merge reports both as one finding. A table created, or proven empty, in the migration blocks nobody.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.names import BOOKKEEPING_TABLES
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import table_of
from pgwarden.risk.txlocks import held_lock

ID = "backfill-under-lock"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.UpdateStmt,)
SUGGESTION = (
    "Commit the schema change first and backfill afterwards, in batches that each commit "
    "(UPDATE ... WHERE id BETWEEN x AND y), from a separate migration without the ALTER or from a job; "
    "then add the constraint that needed the backfill in a third step."
)

#: What the earlier statement's lock stops, by the statement that took it.
_EFFECT = {
    "ALTER TABLE": "ACCESS EXCLUSIVE for most ALTERs: even reads of",
    "ALTER TABLE ... RENAME": "ACCESS EXCLUSIVE: even reads of",
    "LOCK TABLE": "the lock it names: queries on",
    "CREATE INDEX": "SHARE: every write to",
    "CREATE TRIGGER": "SHARE ROW EXCLUSIVE: every write to",
}


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    table = table_of(node.relation)
    if table is None or ctx.is_new(table) or table.name in BOOKKEEPING_TABLES:
        return  # new, or the tools' own history (alembic_version's UPDATE ... WHERE): no app data
    lock = held_lock(ctx, table)
    if lock is None:
        return
    facts = ctx.size_facts(table, stmt)
    if facts is not None and facts.empty_because is not None:
        return
    hit = size_hit(Severity.MEDIUM, facts, table,
                   f"Updates {table.display} while this transaction still holds the lock its {lock.kind} at "
                   f"line {lock.line} took ({_EFFECT.get(lock.kind, _EFFECT['ALTER TABLE'])} {table.display} "
                   "wait until the update and the rest of the migration commit)",
                   SUGGESTION, work="the table stays locked")
    hit.context = {**hit.context, "locked_at_line": lock.line}
    yield hit
