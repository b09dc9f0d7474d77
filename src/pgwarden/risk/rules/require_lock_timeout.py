"""require-lock-timeout: strong locks on existing tables without SET lock_timeout.

A DDL statement waiting for its lock behind a long query makes every later query on the
table wait behind *it*: a short outage from a fast migration. ``SET lock_timeout`` makes it
give up and retry instead. Reported once per migration, at low severity: advice, not a block.

Not reported for the configured tool's migrations: ``pgwarden deploy`` applies them under
``deploy.lock_timeout`` (5s by default, 0 is refused), and the engine starts each of them as if
it had SET lock_timeout (``review_set(session_lock_timeout=True)``): the ``sql`` tool SETs it on
its session, Prisma, Laravel and Alembic get it in PGOPTIONS (and Prisma and Alembic in the URL's
``options``). A migration that turns it off (``SET lock_timeout = 0``, ``RESET``) is still
reported, and so are explicit ``plan PATH...`` files, which anything may run.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgwarden.records import Category, Severity
from pgwarden.risk.locks import strong_lock_tables
from pgwarden.risk.rule import Hit, RuleContext, Statement

ID = "require-lock-timeout"
CATEGORY = Category.BLOCKING_LOCK
NODES = None
SUGGESTION = (
    "Start the migration with SET lock_timeout = '5s' (and retry on failure); pgwarden deploy "
    "does this for you, other runners do not."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterable[Hit]:
    migration = ctx.state.migration
    if migration.lock_timeout_set or ID in migration.reported:  # said once per migration: the rest is moot
        return ()
    existing = [t for t in strong_lock_tables(stmt.node) if t is None or not ctx.is_new(t)]
    if not existing or not ctx.once_per_migration(ID):
        return ()
    table = existing[0]
    what = table.display if table is not None else "a table"
    return (Hit(Severity.LOW, f"Takes a strong lock on {what} without SET lock_timeout: while it waits for the "
                "lock, every other query on the table waits behind it", SUGGESTION, table),)
