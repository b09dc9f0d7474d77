"""``pgwarden backups list|show ID|prune``: thin wrappers over :mod:`pgwarden.pipeline.backups`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.durations import format_duration
from pgwarden.errors import EXIT_OK, ConfigError
from pgwarden.units import format_bytes


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "show", "prune"), help="what to do")
    parser.add_argument("backup_id", nargs="?", metavar="ID", help="for show: a backup id, or latest")
    parser.add_argument("--store", metavar="URI", help="file://DIR or s3://bucket/prefix (default: backup.store)")
    parser.add_argument("--dry-run", action="store_true", help="prune: say what would be deleted, delete nothing")


def _list(ctx: Context) -> int:
    from pgwarden.pipeline.backups import list_backups

    listing = list_backups(ctx.settings, ctx.args.store)
    if ctx.json:
        ctx.emit_json(listing.to_json())
        return EXIT_OK
    ctx.say(f"backups in {listing.store}:")
    if not listing.backups:
        ctx.say("  (none)")
    latest = {entry["latest_verified"] for entry in listing.databases()}
    for m in listing.backups:
        state = "verified" if m.verified else "UNVERIFIED"
        mark = "  <- latest verified" if m.id in latest else ""
        ctx.say(f"  {m.id}  {m.database:<16} {format_bytes(m.size_bytes):>10}  {m.format:<9} {state:<10} "
                f"age {format_duration(m.age_s())}{mark}")
    for backup_id in listing.incomplete:
        ctx.say(f"  {backup_id}  (incomplete: interrupted or still running, never restored)")
    databases = listing.databases()
    if len(databases) > 1:
        ctx.say("databases (latest verified of each):")
        for entry in databases:
            server = entry["system_identifier"] or "server not recorded"
            ctx.say(f"  {entry['database']:<16} {server:<20} {entry['latest_verified'] or '(none verified)'}")
    return EXIT_OK


def _show(ctx: Context) -> int:
    from pgwarden.pipeline.backups import show_backup

    if not ctx.args.backup_id:
        raise ConfigError("pgwarden backups show: expected a backup id (or latest), e.g. pgwarden backups show latest")
    # latest is the database URL's database's newest backup, when a URL is given.
    target = ctx.target() if ctx.has_database_url() else None
    manifest = show_backup(ctx.settings, ctx.args.backup_id, ctx.args.store, target)
    if ctx.json:
        ctx.emit_json(manifest.to_json())
        return EXIT_OK
    ctx.say(manifest.dumps().rstrip())
    return EXIT_OK


def _prune(ctx: Context) -> int:
    from pgwarden.pipeline.backups import prune_backups

    report = prune_backups(ctx.settings, ctx.args.store, dry_run=ctx.args.dry_run, progress=ctx.note)
    if ctx.json:
        ctx.emit_json(report.to_json())
        return EXIT_OK
    verb = "would delete" if report.dry_run else "deleted"
    ctx.say(f"{verb} {len(report.deleted)} backup(s), kept {len(report.kept)} in {report.store}")
    for backup_id, why in report.damaged.items():
        ctx.say(f"damaged   {backup_id}: {why}")
    return EXIT_OK


def _run(ctx: Context) -> int:
    return {"list": _list, "show": _show, "prune": _prune}[ctx.args.action](ctx)


COMMAND = Command(
    name="backups",
    description="list: every backup, newest first, with its database and verification state. show ID: its "
    "manifest (latest: the newest of the database URL's database). prune: per database, delete backups outside "
    "backup.retention (days, keep_last); a database's newest good backup (verified, its files in the store "
    "with their sizes) is never deleted, and every deletion is printed.",
    example="pgwarden backups list --store s3://acme-backups/prod\npgwarden backups show latest --format json\n"
    "pgwarden backups prune --dry-run",
    add_arguments=_add_arguments,
    run=_run,
)
