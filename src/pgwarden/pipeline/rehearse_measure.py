"""The rehearsal's figures per migration, from what the lock sampler saw (a pure function).

:func:`attribute` splits a :class:`~pgwarden.pg.lock_sampler.SamplerTrace` into one span per
migration at the boundaries where the tool's history showed it finished, and gives each span
its wall time, the strongest lock held per table and for how long, the tables whose storage was
rewritten, the statements seen running, and the rows and WAL written.

How the times are read: a tick is one look at ``pg_locks``. A lock first seen on tick ``f`` and
last on tick ``l`` was taken between ticks ``f-1`` and ``f`` and let go between ``l`` and
``l+1``; its held time is from the middle of the first gap to the middle of the last (with
regular ticks: last seen - first seen + one interval). It is off by at most half a gap at each
end: a lock held ``h`` seconds is reported as ``h`` ± one tick period (the interval, or the
sample query's time when that is longer).

Migrations whose names the history showed at the same boundary (one transaction for several
migrations, as Alembic does by default, or commits closer together than one look at the
history) share one span: each gets its figures and names the others in ``measured_with``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from pgwarden.names import BOOKKEEPING_TABLES, QualifiedName
from pgwarden.pg.lock_sampler import CatalogSnapshot, LockRun, SamplerTrace
from pgwarden.redact import redact
from pgwarden.rehearsal import (
    APPLIED,
    FAILED,
    NOT_RUN,
    LockHeld,
    RehearsedMigration,
    RehearsedStatement,
    sort_locks,
    strongest,
)

#: A statement's text in the record: its first characters, whitespace collapsed.
STATEMENT_CHARS = 200

#: The lock every row written takes on its table.
ROW_EXCLUSIVE = "RowExclusiveLock"

#: Statements that are the tool's plumbing, not the migration: transaction control and settings.
_PLUMBING = re.compile(r"(begin|start\s+transaction|commit|end|rollback|abort|savepoint|release|set|reset|show)\b",
                       re.IGNORECASE)


@dataclass(frozen=True)
class MigrateOutcome:
    """What the migration run reported: the names applied in order, the one that failed."""

    applied: list[str]
    failed: str | None = None
    #: The failure's primary message, first line (the caller strips DETAIL and values).
    error: str | None = None
    sqlstate: str | None = None


@dataclass(frozen=True)
class _Span:
    names: list[str]
    #: Ticks ``first`` .. ``end - 1`` belong to it.
    first: int
    end: int
    start_t: float
    end_t: float
    before: CatalogSnapshot | None
    after: CatalogSnapshot | None


class _Clock:
    """Tick indexes to times: the middle of the gap before or after a tick."""

    def __init__(self, trace: SamplerTrace) -> None:
        self.ticks = trace.ticks
        self.half = trace.interval_s / 2
        self.fallback = trace.started_t

    def before(self, tick: int) -> float:
        ticks = self.ticks
        if not ticks:
            return self.fallback
        if tick <= 0:
            return ticks[0] - self.half
        if tick >= len(ticks):
            return ticks[-1] + self.half
        return (ticks[tick - 1] + ticks[tick]) / 2

    def after(self, tick: int) -> float:
        return self.before(tick + 1)


class _Relations:
    """Relation oids to table names, from every snapshot (a table created during the run is
    named only in the snapshots after its commit). Indexes stand for their table."""

    def __init__(self, snapshots: Iterable[CatalogSnapshot], ignore: Collection[str]) -> None:
        self.names: dict[int, str] = {}
        self.index_table: dict[int, int] = {}
        for snap in snapshots:
            self.names.update({oid: name for oid, (name, _node) in snap.tables.items()})
            self.index_table.update(snap.indexes)
        self.ignore = ignore

    def table_oid(self, relation: int) -> int:
        return self.index_table.get(relation, relation)

    def table(self, relation: int) -> str | None:
        name = self.names.get(self.table_oid(relation))
        if name is None or self.ignored(name):
            return None
        return name

    def ignored(self, name: str) -> bool:
        return QualifiedName.parse(name).name in self.ignore


def attribute(
    trace: SamplerTrace,
    names: Sequence[str],
    outcome: MigrateOutcome,
    *,
    ignore_tables: Collection[str] = BOOKKEEPING_TABLES,
) -> list[RehearsedMigration]:
    """One record per name in ``names`` (the pending migrations, in order).

    Status comes from ``outcome``: applied, failed (with its error and SQLSTATE), or not-run
    (anything else: after the failure, or never reached). ``ignore_tables`` (bare table names,
    the tools' history tables and pgwarden's own by default) are left out of every figure.
    """
    relations = _Relations(trace.snapshots(), ignore_tables)
    clock = _Clock(trace)
    ordered = _spans(trace, names, outcome, clock)
    rows = _rows_by_span(trace, ordered, relations)
    spans = {name: (i, span) for i, span in enumerate(ordered) for name in span.names}
    out: list[RehearsedMigration] = []
    for name in names:
        if name not in spans:
            out.append(RehearsedMigration(name=name, status=NOT_RUN, duration_s=None))
            continue
        index, span = spans[name]
        failed = name == outcome.failed
        out.append(RehearsedMigration(
            name=name,
            status=FAILED if failed else APPLIED,
            duration_s=max(0.0, span.end_t - span.start_t),
            error=outcome.error if failed else None,
            sqlstate=outcome.sqlstate if failed else None,
            locks=_locks(trace.locks, span.first, span.end, clock, relations),
            rewritten=_rewritten(span.before, span.after, relations),
            statements=_statements(trace, span, clock, relations),
            rows_written=rows[index],
            wal_bytes=_wal(span.before, span.after),
            measured_with=[other for other in span.names if other != name],
        ))
    return out


def _spans(trace: SamplerTrace, names: Sequence[str], outcome: MigrateOutcome, clock: _Clock) -> list[_Span]:
    applied = set(outcome.applied)
    ran = [n for n in names if n in applied or n == outcome.failed]
    order = {name: i for i, name in enumerate(names)}
    first = trace.busy_first or 0
    before = trace.baseline
    spans: list[_Span] = []
    placed: set[str] = set()
    start_t = clock.before(first)
    for boundary in trace.boundaries:
        # Only the applied: a name the history shows that this run did not apply moves no boundary.
        shown = (boundary.names & applied) - placed
        if not shown:
            continue
        # Tools apply in order, so what came before a name shown finished had finished too (Alembic's
        # history keeps only the head; by default it commits every revision in one transaction).
        last = max(order.get(n, -1) for n in shown)
        here = [n for n in ran if n not in placed and order[n] <= last]
        if not here:
            continue
        end = max(first, boundary.tick)
        end_t = max(start_t, clock.before(end))
        spans.append(_Span(here, first, end, start_t, end_t, before, boundary.snapshot))
        placed |= set(here)
        first, start_t, before = end, end_t, boundary.snapshot
    rest = [n for n in ran if n not in placed]
    if rest:
        # The failed one (and any applied the history never showed) ends when the tool's
        # backends were last seen busy.
        last = trace.busy_last if trace.busy_last is not None and trace.busy_last >= first else first - 1
        end_t = max(start_t, clock.after(last)) if last >= first else start_t
        after = trace.final if trace.final is not None else before
        spans.append(_Span(rest, first, last + 1, start_t, end_t, before, after))
    return spans


def _locks(runs: Iterable[LockRun], first: int, end: int, clock: _Clock, relations: _Relations,
           *, pid: int | None = None) -> list[LockHeld]:
    """The strongest mode per table over ticks ``first`` .. ``end - 1``, and how long it was held."""
    seen: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if pid is not None and run.pid != pid:
            continue
        lo, hi = max(run.first, first), min(run.last, end - 1)
        if lo > hi:
            continue
        table = relations.table(run.relation)
        if table is not None:
            seen[table][run.mode].append((lo, hi))
    held: list[LockHeld] = []
    for table, modes in seen.items():
        mode = strongest(modes)
        assert mode is not None
        held.append(LockHeld(table=table, mode=mode, held_s=_held_s(modes[mode], clock)))
    return sort_locks(held)


def _held_s(ranges: list[tuple[int, int]], clock: _Clock) -> float:
    """Total time covered by tick ranges (overlapping or adjacent ones merged: the lock was
    held throughout, whichever session or transaction held it)."""
    total = 0.0
    cur: tuple[int, int] | None = None
    for lo, hi in sorted(ranges):
        if cur is not None and lo <= cur[1] + 1:
            cur = (cur[0], max(cur[1], hi))
            continue
        if cur is not None:
            total += clock.after(cur[1]) - clock.before(cur[0])
        cur = (lo, hi)
    if cur is not None:
        total += clock.after(cur[1]) - clock.before(cur[0])
    return total


def _rewritten(before: CatalogSnapshot | None, after: CatalogSnapshot | None, relations: _Relations) -> list[str]:
    """Tables that existed before the span and have other storage after it (a table the span
    created is new, not rewritten; a partitioned table has no storage of its own)."""
    if before is None or after is None:
        return []
    found: set[str] = set()
    for oid, (name, node) in after.tables.items():
        old = before.tables.get(oid)
        if old is not None and node and old[1] and node != old[1] and not relations.ignored(name):
            found.add(name)
    return sorted(found)


def _rows_by_span(trace: SamplerTrace, spans: Sequence[_Span], relations: _Relations) -> list[int | None]:
    """Rows written (n_tup_ins + n_tup_upd + n_tup_del) per span.

    A backend flushes its counters to pg_stat_user_tables when it goes idle, at most once a
    second, so a table's rows often show up a span or two after the migration that wrote them.
    Rows are only written under a ROW EXCLUSIVE lock: a table's count that grew in a span goes to
    the latest span up to it whose sessions held that lock on the table (the same span if none)."""
    writers = [_writes(trace.locks, span, relations) for span in spans]
    out: list[int | None] = [None if s.before is None or s.after is None else 0 for s in spans]
    windows = [(i, span.before, span.after) for i, span in enumerate(spans)]
    if spans and trace.final is not None and spans[-1].after is not None and spans[-1].after is not trace.final:
        # After the last boundary: what the backends flushed as they exited.
        windows.append((len(spans) - 1, spans[-1].after, trace.final))
    for i, before, after in windows:
        if before is None or after is None:
            continue
        for oid, count in after.rows.items():
            name = after.tables.get(oid, (None, 0))[0]
            grew = count - before.rows.get(oid, 0)
            if grew <= 0 or (name is not None and relations.ignored(name)) or out[i] is None:
                continue
            owner = next((j for j in range(i, -1, -1) if oid in writers[j] and out[j] is not None), i)
            out[owner] = (out[owner] or 0) + grew
    return out


def _writes(runs: Iterable[LockRun], span: _Span, relations: _Relations) -> set[int]:
    """Oids of the tables the span's sessions held ROW EXCLUSIVE on (on the table or an index of it)."""
    return {relations.table_oid(run.relation) for run in runs
            if run.mode == ROW_EXCLUSIVE and run.first < span.end and run.last >= span.first}


def _wal(before: CatalogSnapshot | None, after: CatalogSnapshot | None) -> int | None:
    if before is None or after is None or before.wal_lsn is None or after.wal_lsn is None:
        return None
    return max(0, after.wal_lsn - before.wal_lsn)


def _plumbing(sql: str, relations: _Relations) -> bool:
    """One statement of the tool's plumbing: transaction control, a setting, or a read or write of
    its history table. A script of several statements is the migration itself, whatever it starts with."""
    text = sql.strip(" \t\r\n;")
    if ";" in text:
        return False
    if _PLUMBING.match(text):
        return True
    lowered = text.lower()
    return any(re.search(r'\b(?:into|update|from|join|table(?:\s+if\s+not\s+exists)?)\s+(?:"?[\w$]+"?\.)?"?'
                         + re.escape(name.lower())
                         + r'"?(?![\w$])', lowered) for name in relations.ignore)


def _lone_select(sql: str) -> bool:
    text = sql.strip(" \t\r\n;")
    return ";" not in text and re.match(r"select\b", text, re.IGNORECASE) is not None


def _statements(trace: SamplerTrace, span: _Span, clock: _Clock, relations: _Relations) -> list[RehearsedStatement]:
    """The statements that started in the span, in the order they started."""
    out: list[tuple[float, RehearsedStatement]] = []
    for stmt in trace.statements:
        if not span.first <= stmt.first < span.end or _plumbing(stmt.sql, relations):
            continue
        # The statement's age dates its start, but never before the tick that did not see it.
        started = max(stmt.started_t, trace.ticks[stmt.first - 1] if stmt.first > 0 else stmt.started_t)
        ended = clock.after(stmt.last)
        sql = redact(" ".join(stmt.sql.split()))[:STATEMENT_CHARS]
        locks = _locks(trace.locks, stmt.first, stmt.last + 1, clock, relations, pid=stmt.pid)
        if not locks and _lone_select(stmt.sql):
            continue  # a look at the catalog (Prisma introspects before it migrates): nothing held
        out.append((started, RehearsedStatement(sql=sql, duration_s=max(0.0, ended - started), locks=locks)))
    return [stmt for _started, stmt in sorted(out, key=lambda item: item[0])]
