"""The rehearsal in words: one headline, a collapsed table per migration (markdown) and lines for a terminal.

Pure: a :class:`~pgwarden.rehearsal.RehearsalReport` in, text out. The plan report (every format),
the PR comment and the step summary say it the same way:

    ❌ Rehearsed on a copy of production taken 4min 05s ago (backup `…`): `0002_backfill` took 42.0s and
    held an ACCESS EXCLUSIVE lock on orders for 41.0s (every query on orders waits that long, reads
    included); `0004_unique` fails: duplicate key (23505); 1 not run after it.

Only the figures leave the copy: durations, lock modes and tables, rewritten tables, row and WAL
counts, the SQLSTATE and PostgreSQL's primary message with values masked
(:func:`pgwarden.risk.rules.rehearsal_failed.error_line`), never a row of its data. A lock
"blocks" as rehearsal-long-lock judges it (a mode that makes the app's queries wait, on a table
that exists before the migrations, held past ``rehearsal.max_lock``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection
from datetime import datetime

from pgwarden.durations import format_duration
from pgwarden.records import PlanReport
from pgwarden.rehearsal import APPLIED, FAILED, NOT_RUN, LockHeld, RehearsalReport, RehearsedMigration, mode_label
from pgwarden.report.format import cell, code, details, html, one_line
from pgwarden.risk.rules.rehearsal_failed import cause, error_line
from pgwarden.risk.rules.rehearsal_long_lock import display_table, lock_phrase, long_locks, new_tables, waits
from pgwarden.units import format_bytes

#: Locks listed per migration in the table; the rest are counted.
LOCKS_SHOWN = 3
#: Migrations named in the headline; past this the others are counted.
NAMED = 5
#: rehearsal.max_lock's default, for a document that does not say which threshold judged it.
DEFAULT_MAX_LOCK_S = 2.0
STATUS_ICON = {APPLIED: "✅", FAILED: "❌", NOT_RUN: "⏭️"}


def plan_markdown(plan: PlanReport) -> list[str]:
    """The plan's rehearsal (``plan --rehearsal``): the headline and the collapsed table; [] without one."""
    if plan.rehearsal is None:
        return []
    max_lock, new = _judged_by(plan)
    return [headline(plan.rehearsal, max_lock, new), "", *table(plan.rehearsal, max_lock, new)]


def plan_text(plan: PlanReport) -> list[str]:
    """The plan's rehearsal for a terminal; [] without one."""
    if plan.rehearsal is None:
        return []
    return text_lines(plan.rehearsal, *_judged_by(plan))


def plan_summary(plan: PlanReport) -> str:
    """The plan's rehearsal in one unwrapped line of plain text (SARIF's property bag); "" without one."""
    if plan.rehearsal is None:
        return ""
    return summary_text(plan.rehearsal, *_judged_by(plan))


def _judged_by(plan: PlanReport) -> tuple[float, set[str]]:
    """The threshold the plan judged its rehearsal by and the tables its pending migrations create."""
    max_lock = plan.rehearsal_max_lock_s if plan.rehearsal_max_lock_s is not None else DEFAULT_MAX_LOCK_S
    return max_lock, new_tables(plan.pending)


def _age(report: RehearsalReport, now: datetime | None) -> str:
    """``taken 4min 05s ago`` (``now`` given) or ``taken 4min 05s before the rehearsal``; "" if unknown."""
    taken = _parse(report.backup_taken_at)
    until = now or _parse(report.rehearsed_at)
    if taken is None or until is None:
        return ""
    if until.tzinfo is None or taken.tzinfo is None:
        until, taken = until.replace(tzinfo=None), taken.replace(tzinfo=None)
    seconds = max(0.0, (until - taken).total_seconds())
    return f" taken {format_duration(seconds)} {'ago' if now is not None else 'before the rehearsal'}"


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def icon(report: RehearsalReport, max_lock_s: float, new: Collection[str] = ()) -> str:
    """❌ a migration failed, ⚠️ a lock blocked queries past the limit (or the copy was not dropped), ✅ else."""
    if report.failed is not None:
        return "❌"
    if not report.dropped or any(long_locks(m, max_lock_s, new) for m in report.migrations):
        return "⚠️"
    return "✅"


def facts(report: RehearsalReport, max_lock_s: float, new: Collection[str] = (),
          name: Callable[[str], str] = str, text: Callable[[str], str] = str) -> list[str]:
    """What the headline says after the colon, one phrase each (``name`` formats a migration's name,
    ``text`` what came from the database: a message, a table)."""
    phrases: list[str] = []
    quiet: list[RehearsedMigration] = []
    for m in report.migrations:
        if m.status == FAILED:
            after = f" after {format_duration(m.duration_s)}" if m.duration_s is not None else ""
            phrases.append(f"{name(m.name)} fails{after}: {text(cause(m))}")
            continue
        locks = long_locks(m, max_lock_s, new) if m.status == APPLIED else []
        if not locks:
            if m.status == APPLIED:
                quiet.append(m)
            continue
        took = f" took {format_duration(m.duration_s)} and" if m.duration_s is not None else ""
        held = "; and ".join(text(f"{lock_phrase(lk)} ({waits(lk)})") for lk in locks[:2])
        more = f" and {len(locks) - 2} more such lock(s)" if len(locks) > 2 else ""
        phrases.append(f"{name(m.name)}{took} held {held}{more}")
    if len(phrases) > NAMED:
        phrases = [*phrases[:NAMED], f"{len(phrases) - NAMED} more like these (see the table)"]
    not_run = sum(1 for m in report.migrations if m.status == NOT_RUN)
    if not_run:
        phrases.append(f"{not_run} not run after the failure")
    limit = format_duration(max_lock_s)
    if quiet and not phrases:
        total = sum(m.duration_s or 0.0 for m in quiet)
        n = len(quiet)
        phrases.append(f"{'all ' if n > 1 else ''}{n} migration{'s' if n != 1 else ''} applied in "
                       f"{format_duration(total)}, no lock blocked queries on an existing table for more than "
                       f"{limit} (rehearsal.max_lock)")
    elif quiet:
        phrases.append(f"{len(quiet)} other{'s' if len(quiet) != 1 else ''} applied with no lock over {limit}")
    if not report.migrations:
        phrases.append("nothing was pending")
    if not report.dropped:
        phrases.append(f"the scratch database {text(report.scratch_database)} was NOT dropped: it holds production "
                       "data")
    return phrases


def headline(report: RehearsalReport, max_lock_s: float, new: Collection[str] = (), *,
             now: datetime | None = None) -> str:
    """The one markdown line under the verdict."""
    said = "; ".join(facts(report, max_lock_s, new, name=code, text=lambda t: html(one_line(t))))
    where = f"(backup {code(report.backup_id)})"
    return (f"{icon(report, max_lock_s, new)} **Rehearsed** on a copy of production{_age(report, now)} {where}: "
            f"{said}.")


def _measured(m: RehearsedMigration, max_lock_s: float, new: Collection[str]) -> str:
    """The table's last cell: locks (a blocking one marked), rewrites, rows and WAL, or the failure."""
    parts: list[str] = []
    if m.status == FAILED:
        message = error_line(m)
        parts.append(cell(cause(m)) + (f": {cell(message)}" if message and message != cause(m) else ""))
    blocking = {id(lk) for lk in long_locks(m, max_lock_s, new)}
    for lk in m.locks[:LOCKS_SHOWN]:
        parts.append(_lock_cell(lk, blocking, new))
    if len(m.locks) > LOCKS_SHOWN:
        parts.append(f"{len(m.locks) - LOCKS_SHOWN} more lock(s)")
    if m.rewritten:
        parts.append("rewrote " + ", ".join(code(display_table(t), in_table=True) for t in m.rewritten))
    counts = []
    if m.rows_written is not None:
        counts.append(f"{m.rows_written:,} rows written")
    if m.wal_bytes is not None:
        counts.append(f"{format_bytes(m.wal_bytes)} WAL")
    if counts:
        parts.append(" · ".join(counts))
    if m.measured_with:
        parts.append("measured together with " + ", ".join(code(n, in_table=True) for n in m.measured_with))
    return "<br>".join(parts) or "–"


def _lock_cell(lock: LockHeld, blocking: set[int], new: Collection[str]) -> str:
    mark = "⚠️ " if id(lock) in blocking else ""
    fresh = " (new table)" if lock.table in new else ""
    return (f"{mark}{mode_label(lock.mode)} on {code(display_table(lock.table), in_table=True)}{fresh} "
            f"{format_duration(lock.held_s)}")


def table(report: RehearsalReport, max_lock_s: float, new: Collection[str] = (), *, label: str = "") -> list[str]:
    """Each migration's figures in a collapsed table (markdown lines); ``label`` starts its summary."""
    n = len(report.migrations)
    timing = []
    if report.restore_s:
        timing.append(f"restore {format_duration(report.restore_s)}")
    if report.migrate_s:
        timing.append(f"migrations {format_duration(report.migrate_s)}")
    summary = f"{html(label)}Rehearsal: what each of the {n} migration{'s' if n != 1 else ''} did on the copy" + (
        f" ({', '.join(timing)})" if timing else "")
    rows = ["| migration | result | took | measured |", "|---|---|---|---|"]
    for m in report.migrations:
        took = format_duration(m.duration_s) if m.duration_s is not None else "–"
        status = f"{STATUS_ICON.get(m.status, '')} {m.status.replace('-', ' ')}"
        rows.append(f"| {code(m.name, in_table=True)} | {status} | {took} | {_measured(m, max_lock_s, new)} |")
    return details(summary, [*rows, "", footnote(report, max_lock_s)])


def footnote(report: RehearsalReport, max_lock_s: float) -> str:
    """How the figures were measured, and what became of the copy."""
    interval = (f"pg_locks sampled every {format_duration(report.sample_interval_s)}: a lock's time is ± one "
                "interval; " if report.sample_interval_s else "")
    copy = (f"scratch database {code(report.scratch_database)} "
            + ("dropped" if report.dropped else "**not dropped**: it holds production data, drop it"))
    tool = f" by {code(report.tool)}" if report.tool else ""
    return (f"<sub>Run{tool} on a restored copy of {code(report.database or 'the database')}; {interval}⚠️ = blocked "
            f"the app's queries on an existing table past {format_duration(max_lock_s)} (rehearsal.max_lock); "
            f"only figures, no data, leave the copy; {copy}.</sub>")


def summary_text(report: RehearsalReport, max_lock_s: float, new: Collection[str] = ()) -> str:
    """The headline in plain text: ``rehearsal: on a copy of production taken … (backup …): …``."""
    said = "; ".join(facts(report, max_lock_s, new))
    return f"rehearsal: on a copy of production{_age(report, None)} (backup {report.backup_id}): {said}"


def text_lines(report: RehearsalReport, max_lock_s: float, new: Collection[str] = ()) -> list[str]:
    """The rehearsal for a terminal: the headline, then one line per migration."""
    lines = textwrap.wrap(summary_text(report, max_lock_s, new), 100, subsequent_indent="  ",
                          break_on_hyphens=False)
    width = max((len(m.name) for m in report.migrations), default=0)
    for m in report.migrations:
        took = format_duration(m.duration_s) if m.duration_s is not None else "-"
        what = [cause(m) + (f": {error_line(m)}" if error_line(m) and error_line(m) != cause(m) else "")
                if m.status == FAILED else ""]
        blocking = {id(lk) for lk in long_locks(m, max_lock_s, new)}
        what += [("LONG " if id(lk) in blocking else "") + f"{mode_label(lk.mode)} on {display_table(lk.table)} "
                 f"{format_duration(lk.held_s)}" for lk in m.locks[:LOCKS_SHOWN]]
        if m.rewritten:
            what.append("rewrote " + ", ".join(display_table(t) for t in m.rewritten))
        if m.rows_written is not None:
            what.append(f"{m.rows_written:,} rows written")
        if m.wal_bytes is not None:
            what.append(f"{format_bytes(m.wal_bytes)} WAL")
        if m.measured_with:
            what.append("measured with " + ", ".join(m.measured_with))
        lines.append(f"  {m.status:<8} {m.name:<{width}}  {took:>9}  " + "; ".join(w for w in what if w))
    return [line.rstrip() for line in lines]
