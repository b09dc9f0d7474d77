"""rehearsal-long-lock: in rehearsal on a copy of production, a lock blocked the app's queries past rehearsal.max_lock.

Not a check on the SQL: ``pgwarden rehearse`` sampled ``pg_locks`` while the pending migrations
ran on a scratch copy of a verified backup (:class:`~pgwarden.rehearsal.RehearsalReport`);
``plan --rehearsal FILE`` and the PR comment call :func:`findings`. A lock counts when it
blocks the application's ordinary queries (SHARE and stronger: writes wait; ACCESS EXCLUSIVE:
reads too), it is on a table that exists before the migration set runs (a table the pending
migrations create has no traffic to block: :func:`new_tables`), and it was held longer than
``rehearsal.max_lock``. Measured on the same data, the production lock lasts about as long.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from pgwarden.durations import format_duration
from pgwarden.records import Category, Finding, Migration, Severity
from pgwarden.risk.rules.history_missing import created_tables

if TYPE_CHECKING:
    # pgwarden.rehearsal loads where a rehearsal is read (the rule registry imports this module for every plan).
    from pgwarden.rehearsal import LockHeld, RehearsalReport, RehearsedMigration

ID = "rehearsal-long-lock"
CATEGORY = Category.BLOCKING_LOCK
SEVERITY = Severity.HIGH
SUGGESTION = (
    "Shorten the lock: build indexes CONCURRENTLY, add constraints NOT VALID and VALIDATE them in a later "
    "migration, backfill in batches outside the migration's transaction, and keep lock_timeout set; then "
    "rehearse again."
)
_WAITS = {
    "AccessExclusiveLock": "every query on {table} waits that long, reads included",
    "ExclusiveLock": "every write to {table} waits that long, plain reads go on",
    "ShareRowExclusiveLock": "every write to {table} waits that long",
    "ShareLock": "every write to {table} waits that long",
}


def display_table(table: str) -> str:
    """``orders`` for ``public.orders``; other schemas stay qualified."""
    return table.removeprefix("public.")


def new_tables(migrations: Sequence[Migration]) -> set[str]:
    """Qualified names (``public.orders``) of the tables the pending migrations create."""
    return {f"{table.schema or 'public'}.{table.name}" for _, table in created_tables(migrations)}


def blocking_modes() -> tuple[str, ...]:
    """The modes that make the application's queries wait: writes from SHARE up, reads too under ACCESS EXCLUSIVE."""
    from pgwarden.rehearsal import LOCK_MODES

    return LOCK_MODES[LOCK_MODES.index("ShareLock"):]


def long_locks(migration: RehearsedMigration, max_lock_s: float, new: Collection[str] = ()) -> list[LockHeld]:
    """The locks of ``migration`` that blocked the app's queries on an existing table past ``max_lock_s``."""
    blocking = blocking_modes()
    return [lock for lock in migration.locks
            if lock.mode in blocking and lock.held_s > max_lock_s and lock.table not in new]


def waits(lock: LockHeld) -> str:
    """What the application's queries did meanwhile: ``every query on orders waits that long, reads included``."""
    return _WAITS.get(lock.mode, "queries on {table} wait that long").format(table=display_table(lock.table))


def lock_phrase(lock: LockHeld) -> str:
    """``an ACCESS EXCLUSIVE lock on orders for 41.0s``."""
    from pgwarden.rehearsal import mode_label

    label = mode_label(lock.mode)
    article = "an" if label[:1] in "AEIOU" else "a"
    return f"{article} {label} lock on {display_table(lock.table)} for {format_duration(lock.held_s)}"


def findings(report: RehearsalReport, max_lock_s: float, migrations: Sequence[Migration] = (),
             *, new: Collection[str] | None = None) -> list[Finding]:
    """One high finding per migration and table whose lock blocked the app past ``max_lock_s`` in ``report``.

    ``migrations`` (the plan's) give each finding its file; ``new`` the tables the pending
    migrations create (default: read from ``migrations``' SQL).
    """
    from pgwarden.rehearsal import APPLIED

    paths = {m.name: m.path for m in migrations}
    created = new_tables(migrations) if new is None else new
    result = []
    seen: set[tuple[frozenset[str], str]] = set()
    for migration in report.migrations:
        if migration.status != APPLIED:
            continue  # a failed one is rehearsal-failed's, critical already
        group = frozenset([migration.name, *migration.measured_with])
        who = migration.name
        if migration.measured_with:
            # One transaction, one span: the figures are the group's, reported once (on its first).
            who = f"{' and '.join([migration.name, *migration.measured_with])} (one transaction, measured together)"
        took = f" took {format_duration(migration.duration_s)} and" if migration.duration_s is not None else ""
        for lock in long_locks(migration, max_lock_s, created):
            if (group, lock.table) in seen:
                continue
            seen.add((group, lock.table))
            result.append(Finding(
                rule=ID,
                category=CATEGORY,
                severity=SEVERITY,
                migration=migration.name,
                file=paths.get(migration.name),
                table=display_table(lock.table),
                message=(
                    f"{who}{took} held {lock_phrase(lock)} in rehearsal on a copy of production "
                    f"({waits(lock)}), over rehearsal.max_lock {format_duration(max_lock_s)}"
                ),
                suggestion=SUGGESTION,
                context={"mode": lock.mode, "held_s": lock.held_s, "max_lock_s": max_lock_s,
                         "backup_id": report.backup_id},
            ))
    return result
