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

from collections.abc import Iterator

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Finding, Migration, Severity
from pgwarden.risk.parse import display_statement
from pgwarden.risk.rule import Hit, RuleContext, Statement, duration_class, is_tiny, size_phrase
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
#: One entry per transaction that reached MANY_TABLES: line, statement, then the locks so far.
_FOOTPRINT = f"{ID}:footprint\x01"


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    if record(stmt, ctx):
        locks = held_locks(ctx)
        if len(locks) >= MANY_TABLES:
            _remember(ctx, stmt, locks)
    return iter(())


def _remember(ctx: RuleContext, stmt: Statement, locks: list[HeldLock]) -> None:
    """Keep the footprint of the open transaction (it survives the COMMIT that clears the locks)."""
    reported = ctx.state.migration.reported
    first = locks[0].line
    old = next((e for e in reported if e.startswith(_FOOTPRINT) and _parts(e)[0] == first), None)
    line, text = (_parts(old)[1], _parts(old)[2]) if old is not None else (stmt.line, display_statement(stmt.text))
    if old is not None:
        reported.discard(old)
    encoded = "\x02".join(f"{lock.schema or ''}\x03{lock.name}\x03{lock.line}\x03{lock.kind}" for lock in locks)
    reported.add(f"{_FOOTPRINT}{first}\x01{line}\x01{text}\x01{encoded}")


def _parts(entry: str) -> tuple[int, int, str, list[HeldLock]]:
    first, line, text, encoded = entry.removeprefix(_FOOTPRINT).split("\x01", 3)
    locks = []
    for item in encoded.split("\x02"):
        schema, name, lock_line, kind = item.split("\x03")
        table = QualifiedName(schema or None, name)
        locks.append(HeldLock(table.key, table.schema, table.name, int(lock_line), kind))
    return int(first), int(line), text, locks


def migration_findings(ctx: RuleContext, migration: Migration) -> list[Finding]:
    """One finding per transaction of the migration that just ended that locked many tables
    (called by the engine after the migration's last statement)."""
    reported = ctx.state.migration.reported
    entries = sorted((_parts(e) for e in reported if e.startswith(_FOOTPRINT)), key=lambda parts: parts[0])
    findings = []
    for _, line, text, locks in entries:
        hit = footprint_hit(ctx, locks)
        findings.append(Finding(rule=ID, category=CATEGORY, severity=hit.severity, message=hit.message,
                                suggestion=hit.suggestion, table=None, context=hit.context,
                                migration=migration.name, file=migration.path, line=line, statement=text))
    return findings

def footprint_hit(ctx: RuleContext, locks: list[HeldLock]) -> Hit:
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
