"""lock-footprint: one transaction holds strong locks on many existing tables until it ends.

Each ALTER TABLE, non-concurrent CREATE INDEX or LOCK in a migration takes its table's lock and
keeps it to the end of the transaction, not of the statement. A migration that alters many
existing tables in one transaction blocks all of them together until its last statement is done,
and queues behind the longest query on any of them: the outage is the sum, which per-statement
findings never show. The finding is migration-level: it lists the whole footprint, reported at the
statement where it reaches :data:`MANY_TABLES` tables.

This module also keeps :mod:`pgwarden.risk.txlocks` up to date: it sees every statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pgwarden.records import Category, Finding, Migration, Severity
from pgwarden.risk.parse import display_statement
from pgwarden.risk.rule import Hit, RuleContext, Statement, duration_class, is_tiny, size_phrase
from pgwarden.risk.state import Footprint
from pgwarden.risk.txlocks import HeldLock, held_locks, record

ID = "lock-footprint"
CATEGORY = Category.BLOCKING_LOCK
NODES = None  # every statement: it records the locks each one takes
SUGGESTION = (
    "Split the migration so each transaction locks few tables (one migration per table, or "
    "per group of tables the application uses together), and set a lock_timeout so a blocked "
    "lock gives up instead of stalling every table already locked."
)
#: A transaction holding strong locks on this many existing tables gets a finding.
MANY_TABLES = 4


def check(stmt: Statement, ctx: RuleContext) -> Iterable[Hit]:
    if record(stmt, ctx) and len(ctx.state.migration.held_locks) >= MANY_TABLES:
        _remember(ctx, stmt, held_locks(ctx))  # sorted only when it counts
    return ()


def _remember(ctx: RuleContext, stmt: Statement, locks: list[HeldLock]) -> None:
    """Keep the footprint of the open transaction (it survives the COMMIT that clears the locks)."""
    footprints = ctx.state.migration.footprints
    first = locks[0].line
    old = footprints.get(first)
    line, text = (old.line, old.statement) if old is not None else (stmt.line, display_statement(stmt.text))
    footprints[first] = Footprint(line, text, tuple(locks))


def migration_findings(ctx: RuleContext, migration: Migration) -> list[Finding]:
    """One finding per transaction of the migration that just ended that locked many tables
    (called by the engine after the migration's last statement)."""
    findings = []
    for _, footprint in sorted(ctx.state.migration.footprints.items(), key=lambda item: item[0]):
        hit = footprint_hit(ctx, footprint.locks)
        findings.append(Finding(rule=ID, category=CATEGORY, severity=hit.severity, message=hit.message,
                                suggestion=hit.suggestion, table=None, context=hit.context,
                                migration=migration.name, file=migration.path, line=footprint.line,
                                statement=footprint.statement))
    return findings

def footprint_hit(ctx: RuleContext, locks: Sequence[HeldLock]) -> Hit:
    """The footprint as one verdict: medium, high when a locked table is big, low when all are tiny."""
    sizes = [ctx.table(lock.table) for lock in locks]
    known = [facts for facts in sizes if facts is not None]
    severity = Severity.MEDIUM
    if known and len(known) == len(sizes) and all(f.empty or is_tiny(f) for f in known):
        severity = Severity.LOW
    elif any(duration_class(f.bytes) in ("minutes", "hours") or (f.rows or 0) >= 1_000_000 for f in known):
        severity = Severity.HIGH
    names = ", ".join(f"{lock.table.display} ({lock.kind}, line {lock.line})" for lock in locks)
    message = (f"This transaction holds strong locks on {len(locks)} existing tables until it commits: "
               f"{names}; queries on any of them wait for the whole migration")
    if known:
        message += " (" + "; ".join(size_phrase(f) for f in known) + ")"
    context = {"tables": [lock.table.display for lock in locks], "lines": [lock.line for lock in locks]}
    return Hit(severity, message, SUGGESTION, context=context)
