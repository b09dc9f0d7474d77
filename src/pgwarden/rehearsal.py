"""The rehearsal record: what the pending migrations really did on a restored copy of production.

``pgwarden rehearse`` restores a verified backup into a scratch database, runs the pending
migrations there and measures them (:mod:`pgwarden.pipeline.rehearse`); this module holds only
the plain records it produces and every other step reads (the plan's review, the PR comment, the
workflow): :class:`RehearsalReport` with one :class:`RehearsedMigration` per pending migration,
their locks (:class:`LockHeld`) and, where the tool lets pgwarden see them, statements
(:class:`RehearsedStatement`). ``to_json`` gives the ``--format json`` document (issue 14's keys
first, in its order); ``from_json`` reads it back, tolerating keys it does not know and raising
:class:`ValueError` on a wrong shape.

Also the strength order of PostgreSQL's table lock modes (:data:`LOCK_MODES`, :func:`strongest`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The document's version (``version`` key).
REHEARSAL_VERSION = 1

#: ``RehearsedMigration.status`` values.
APPLIED, FAILED, NOT_RUN = "applied", "failed", "not-run"
STATUSES = (APPLIED, FAILED, NOT_RUN)

#: pg_locks' table lock modes, weakest to strongest (the order of the conflict table in the docs:
#: each one conflicts with at least what the one before it conflicts with).
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_STRENGTH = {mode: rank for rank, mode in enumerate(LOCK_MODES)}


def lock_strength(mode: str) -> int:
    """The mode's rank in :data:`LOCK_MODES` (a mode pg_locks gives for no table, e.g. SIReadLock: -1)."""
    return _STRENGTH.get(mode, -1)


def strongest(modes: Iterable[str]) -> str | None:
    """The strongest of ``modes`` (None for none)."""
    best: str | None = None
    for mode in modes:
        if best is None or lock_strength(mode) > lock_strength(best):
            best = mode
    return best


def mode_label(mode: str) -> str:
    """How the docs and people name a mode: ``AccessExclusiveLock`` -> ``ACCESS EXCLUSIVE``."""
    name = mode.removesuffix("Lock")
    words: list[str] = []
    for char in name:
        if char.isupper() and words:
            words.append(" ")
        words.append(char.upper())
    return "".join(words)


@dataclass(frozen=True)
class LockHeld:
    """The strongest lock one migration's sessions held on one table, and for how long.

    ``held_s`` is the last sample that saw it minus the first, plus one sample interval.
    """

    table: str
    mode: str
    held_s: float

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "mode": self.mode, "held_s": round(self.held_s, 3)}

    @classmethod
    def from_json(cls, data: Any) -> LockHeld:
        row = _mapping(data, "lock")
        return cls(table=_text(row, "table"), mode=_text(row, "mode"), held_s=_number(row, "held_s"))


def sort_locks(locks: Iterable[LockHeld]) -> list[LockHeld]:
    """Strongest mode first, then the longest held, then by table (the order reports keep)."""
    return sorted(locks, key=lambda lock: (-lock_strength(lock.mode), -lock.held_s, lock.table))


@dataclass(frozen=True)
class RehearsedStatement:
    """One statement seen running (pg_stat_activity samples): its text (first 200 characters,
    whitespace collapsed, redacted), how long it ran, and the locks held while it ran."""

    sql: str
    duration_s: float
    locks: list[LockHeld] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sql": self.sql, "duration_s": round(self.duration_s, 3), "locks": [lk.to_json() for lk in self.locks]}

    @classmethod
    def from_json(cls, data: Any) -> RehearsedStatement:
        row = _mapping(data, "statement")
        return cls(sql=_text(row, "sql"), duration_s=_number(row, "duration_s"),
                   locks=[LockHeld.from_json(lk) for lk in _list(row, "locks")])


@dataclass(frozen=True)
class RehearsedMigration:
    """One pending migration as it ran on the copy (or did not run: ``not-run`` after a failure)."""

    name: str
    status: str
    duration_s: float | None
    error: str | None = None
    sqlstate: str | None = None
    #: Strongest mode first, then longest held (:func:`sort_locks`).
    locks: list[LockHeld] = field(default_factory=list)
    #: Tables whose storage was rewritten (relfilenode changed), qualified, sorted.
    rewritten: list[str] = field(default_factory=list)
    statements: list[RehearsedStatement] = field(default_factory=list)
    #: n_tup_ins + n_tup_upd + n_tup_del over the migration's span, where measurable.
    rows_written: int | None = None
    wal_bytes: int | None = None
    #: Other migrations committed in the same transaction: their figures are one shared span.
    measured_with: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {self.status!r}")

    def longest_lock(self, modes: Sequence[str] = LOCK_MODES) -> LockHeld | None:
        """The lock held longest among ``modes`` (default any), None without one."""
        held = [lk for lk in self.locks if lk.mode in modes]
        return max(held, key=lambda lk: (lk.held_s, lock_strength(lk.mode))) if held else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "error": self.error,
            "sqlstate": self.sqlstate,
            "locks": [lk.to_json() for lk in self.locks],
            "rewritten": list(self.rewritten),
            "statements": [s.to_json() for s in self.statements],
            "rows_written": self.rows_written,
            "wal_bytes": self.wal_bytes,
            "measured_with": list(self.measured_with),
        }

    @classmethod
    def from_json(cls, data: Any) -> RehearsedMigration:
        row = _mapping(data, "migration")
        return cls(
            name=_text(row, "name"),
            status=_text(row, "status"),
            duration_s=_optional_number(row, "duration_s"),
            error=_optional_text(row, "error"),
            sqlstate=_optional_text(row, "sqlstate"),
            locks=[LockHeld.from_json(lk) for lk in _list(row, "locks")],
            rewritten=[_item_text(t, "rewritten") for t in _list(row, "rewritten")],
            statements=[RehearsedStatement.from_json(s) for s in _list(row, "statements")],
            rows_written=_optional_int(row, "rows_written"),
            wal_bytes=_optional_int(row, "wal_bytes"),
            measured_with=[_item_text(t, "measured_with") for t in _list(row, "measured_with")],
        )


@dataclass(frozen=True)
class RehearsalReport:
    """One rehearsal: the backup restored, the scratch copy (and whether it was dropped), each migration."""

    version: int
    backup_id: str
    scratch_database: str
    dropped: bool
    migrations: list[RehearsedMigration]
    #: The target's dbname (the copy's source).
    database: str = ""
    #: Where the scratch database lived (host:port, never a password).
    server: str = ""
    #: ISO UTC, from the backup's manifest.
    backup_taken_at: str = ""
    #: ISO UTC, when the migrations started on the copy.
    rehearsed_at: str = ""
    restore_s: float = 0.0
    migrate_s: float = 0.0
    sample_interval_s: float = 0.0
    #: The migration tool (sqldir, prisma, laravel, alembic).
    tool: str = ""

    @property
    def ok(self) -> bool:
        """Every migration applied (the exit code is 0)."""
        return all(m.status == APPLIED for m in self.migrations)

    @property
    def failed(self) -> RehearsedMigration | None:
        """The migration that failed (a failure stops the rehearsal, so there is at most one)."""
        return next((m for m in self.migrations if m.status == FAILED), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "backup_id": self.backup_id,
            "scratch_database": self.scratch_database,
            "dropped": self.dropped,
            "migrations": [m.to_json() for m in self.migrations],
            "ok": self.ok,
            "database": self.database,
            "server": self.server,
            "backup_taken_at": self.backup_taken_at,
            "rehearsed_at": self.rehearsed_at,
            "restore_s": round(self.restore_s, 3),
            "migrate_s": round(self.migrate_s, 3),
            "sample_interval_s": self.sample_interval_s,
            "tool": self.tool,
        }

    @classmethod
    def from_json(cls, data: Any) -> RehearsalReport:
        """The inverse of :meth:`to_json`: unknown keys are ignored, a wrong shape is a ValueError."""
        row = _mapping(data, "rehearsal")
        version = row.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"rehearsal: version: expected an integer, got {version!r}")
        dropped = row.get("dropped")
        if not isinstance(dropped, bool):
            raise ValueError(f"rehearsal: dropped: expected true or false, got {dropped!r}")
        return cls(
            version=version,
            backup_id=_text(row, "backup_id"),
            scratch_database=_text(row, "scratch_database"),
            dropped=dropped,
            migrations=[RehearsedMigration.from_json(m) for m in _list(row, "migrations", required=True)],
            database=_text(row, "database", ""),
            server=_text(row, "server", ""),
            backup_taken_at=_text(row, "backup_taken_at", ""),
            rehearsed_at=_text(row, "rehearsed_at", ""),
            restore_s=_optional_number(row, "restore_s") or 0.0,
            migrate_s=_optional_number(row, "migrate_s") or 0.0,
            sample_interval_s=_optional_number(row, "sample_interval_s") or 0.0,
            tool=_text(row, "tool", ""),
        )


# --- readers for from_json: each names the key of a wrong value ----------------------------------

_MISSING = object()


def _mapping(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what}: expected an object, got {type(data).__name__}")
    return data


def _text(row: Mapping[str, Any], key: str, default: Any = _MISSING) -> str:
    value = row.get(key, default)
    if value is _MISSING:
        raise ValueError(f"{key}: missing")
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value


def _item_text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a list of strings, got {value!r}")
    return value


def _optional_text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    return None if value is None else _text(row, key)


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    return float(value)


def _optional_number(row: Mapping[str, Any], key: str) -> float | None:
    return None if row.get(key) is None else _number(row, key)


def _optional_int(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    return value


def _list(row: Mapping[str, Any], key: str, *, required: bool = False) -> list[Any]:
    value = row.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key}: expected a list, got {value!r}")
    return value
