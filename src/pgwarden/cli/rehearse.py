"""``pgwarden rehearse``: a thin wrapper over :func:`pgwarden.pipeline.rehearse.run_rehearsal`.

``--format json`` prints :meth:`pgwarden.rehearsal.RehearsalReport.to_json`; text prints a summary on
stderr. Exit 0 when every migration applied, 1 when one failed (or the scratch copy could not be
dropped), 2 usage/config, 4 refusal (no usable backup, the scratch would be the target).
"""

from __future__ import annotations

import argparse
import datetime as dt

from pgwarden.cli.common import Command, Context
from pgwarden.durations import format_duration
from pgwarden.errors import EXIT_FAILED, EXIT_OK
from pgwarden.rehearsal import RehearsalReport, RehearsedMigration, mode_label
from pgwarden.units import format_bytes


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backup-id", metavar="ID|latest",
                        help="the verified backup of the target database to restore (default: latest, the newest "
                        "one within rehearsal.max_age)")
    parser.add_argument("--store", metavar="URI", help="file://DIR or s3://bucket/prefix (default: backup.store)")


def _migration_line(migration: RehearsedMigration) -> str:
    took = format_duration(migration.duration_s) if migration.duration_s is not None else "-"
    parts: list[str] = []
    if migration.status == "failed":
        parts.append(f"{migration.error or 'failed'}" + (f" ({migration.sqlstate})" if migration.sqlstate else ""))
    for lock in migration.locks[:3]:
        parts.append(f"{mode_label(lock.mode)} on {lock.table} for {format_duration(lock.held_s)}")
    if len(migration.locks) > 3:
        parts.append(f"{len(migration.locks) - 3} more lock(s)")
    if migration.rewritten:
        parts.append("rewrote " + ", ".join(migration.rewritten))
    if migration.rows_written:
        parts.append(f"{migration.rows_written:,} rows written")
    if migration.wal_bytes:
        parts.append(f"{format_bytes(migration.wal_bytes)} WAL")
    if migration.measured_with:
        parts.append("measured together with " + ", ".join(migration.measured_with))
    status = {"applied": "applied", "failed": "FAILED", "not-run": "not run"}.get(migration.status, migration.status)
    return f"  {migration.name}  {status}  {took}" + ("  " + "; ".join(parts) if parts else "")


def _taken(report: RehearsalReport) -> str:
    """`` taken 4min 05s before the rehearsal``, or nothing when a time is missing or unreadable."""
    try:
        taken = dt.datetime.fromisoformat(report.backup_taken_at.replace("Z", "+00:00"))
        rehearsed = dt.datetime.fromisoformat(report.rehearsed_at.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return f", taken {format_duration(max(0.0, (rehearsed - taken).total_seconds()))} before the rehearsal"


def summary_lines(report: RehearsalReport) -> list[str]:
    """The readable summary ``--format text`` prints."""
    if not report.scratch_database:
        return [f"rehearse: nothing pending on {report.database}: nothing was rehearsed"]
    applied = sum(1 for m in report.migrations if m.status == "applied")
    verdict = "ok" if report.ok else "FAILED"
    lines = [
        f"rehearse {verdict}: {applied} of {len(report.migrations)} migration(s) applied on a copy of "
        f"{report.database} (backup {report.backup_id}{_taken(report)}; tool {report.tool})",
        f"  restored in {format_duration(report.restore_s)}, migrations took {format_duration(report.migrate_s)} "
        f"(locks sampled every {format_duration(report.sample_interval_s)})",
    ]
    lines.extend(_migration_line(m) for m in report.migrations)
    if report.dropped:
        lines.append(f"  scratch database {report.scratch_database} dropped")
    else:
        lines.append(f"  the scratch database {report.scratch_database} was NOT dropped: it holds production data, "
                     f"drop it by hand")
    return lines


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.rehearse import run_rehearsal

    report = run_rehearsal(ctx.settings, ctx.target(), backup_id=ctx.args.backup_id, store_uri=ctx.args.store,
                           progress=ctx.note)
    if ctx.json:
        ctx.emit_json(report.to_json())
    else:
        for line in summary_lines(report):
            ctx.note(line)
    return EXIT_OK if report.ok and report.dropped else EXIT_FAILED


COMMAND = Command(
    name="rehearse",
    description="Restore the target database's newest verified backup (within rehearsal.max_age) into a scratch "
    "database (on the same server, or on the staging server of rehearsal.database_url_env), run the pending "
    "migrations there through the deploy code path without hooks while sampling pg_locks, report per migration "
    "its duration, the locks held per table and how long, the tables rewritten, rows and WAL written, and a "
    "failure with its SQLSTATE; then drop the copy (also on failure, Ctrl-C and SIGTERM). The target database "
    "is only read. Exit 0 all applied, 1 one failed, 4 refusal (no usable backup).",
    example="pgwarden rehearse --format json > rehearse.json\npgwarden rehearse --backup-id 20261122T101500Z-ab12cd",
    add_arguments=_add_arguments,
    run=_run,
)
