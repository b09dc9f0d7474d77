"""``pgwarden restore``: a thin wrapper over :func:`pgwarden.pipeline.restore.restore_backup`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.errors import EXIT_FAILED, EXIT_OK, ConfigError
from pgwarden.records import StepResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backup-id", required=True, metavar="ID|latest",
                        help="the backup to restore; latest = the newest verified one of the target database")
    parser.add_argument("--store", metavar="URI", help="file://DIR or s3://bucket/prefix (default: backup.store)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--confirm", metavar="DBNAME",
                      help="restore in place over the database of the URL; must equal its name")
    mode.add_argument("--into", metavar="NEWDB", help="restore into a new database on the same server")
    parser.add_argument("--allow-other-database", action="store_true",
                        help="restore a backup of another database or server on purpose (by default a backup "
                        "must be of the target database, and latest is its newest; with this flag latest is "
                        "the newest of its name on any server)")
    parser.add_argument("--snapshot", action="store_true",
                        help="restore the backup's RDS/Aurora snapshot into a new instance/cluster named by --into")


def print_result(ctx: Context, result: StepResult) -> None:
    if ctx.json:
        ctx.emit_json(result.to_json())
        return
    ctx.say(("ok: " if result.ok else "FAILED: ") + result.summary)
    for check in result.checks:
        mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
        ctx.say(f"  [{mark}] {check.name}: {check.detail}")
    for line in result.details.get("switch_over", []):
        ctx.say(line)


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.restore import restore_backup, restore_snapshot_backup

    if ctx.args.snapshot:
        if not ctx.args.into:
            raise ConfigError("--snapshot restores into a new instance or cluster: pass --into NEW-IDENTIFIER")
        # No connection: the server whose snapshot is restored may be gone; the URL's name picks latest.
        database = ctx.target().dbname if ctx.has_database_url() else None
        result = restore_snapshot_backup(ctx.settings, ctx.args.backup_id, into=ctx.args.into,
                                         store_uri=ctx.args.store, database=database, progress=ctx.note)
        print_result(ctx, result)
        return EXIT_OK if result.ok else EXIT_FAILED
    result = restore_backup(
        ctx.settings,
        ctx.target(),
        ctx.args.backup_id,
        store_uri=ctx.args.store,
        confirm=ctx.args.confirm,
        into=ctx.args.into,
        allow_other_database=ctx.args.allow_other_database,
        progress=ctx.note,
    )
    print_result(ctx, result)
    return EXIT_OK if result.ok else EXIT_FAILED


COMMAND = Command(
    name="restore",
    description="Check that the backup is of the target database (name and server) and every stored byte of "
    "it before touching the database, restore it with pg_restore, then compare row counts with the backup "
    "and the duration with restore.rto.",
    example="pgwarden restore --backup-id latest --confirm shop\n"
    "pgwarden restore --backup-id 20261122T101500Z-ab12cd --into shop_restored\n"
    "pgwarden restore --backup-id latest --snapshot --into prod-db-restored",
    add_arguments=_add_arguments,
    run=_run,
)
