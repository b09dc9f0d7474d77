"""``pgwarden backup``: a thin wrapper over :func:`pgwarden.pipeline.backup.take_backup`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.durations import format_duration
from pgwarden.errors import EXIT_OK
from pgwarden.units import format_bytes


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from pgwarden.pg.dump import COMPRESS_HELP  # built only for `pgwarden backup` (zstandard is not cheap)

    parser.add_argument("--store", metavar="URI", help="file://DIR or s3://bucket/prefix (default: backup.store)")
    parser.add_argument("--dump-format", choices=("custom", "directory"),
                        help="pg_dump archive format (default: backup.format, custom)")
    parser.add_argument("--jobs", type=int, metavar="N", help="parallel pg_dump jobs for the directory format")
    parser.add_argument("--compress", metavar="METHOD", help=f"{COMPRESS_HELP} (default: zstd, outside pg_dump)")


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.backup import take_backup

    args = ctx.args
    manifest = take_backup(
        ctx.settings,
        ctx.target(),
        store_uri=args.store,
        dump_format=args.dump_format,
        jobs=args.jobs,
        compress=args.compress,
        progress=ctx.note,
    )
    if ctx.json:
        ctx.emit_json(manifest.to_json())
    else:
        ctx.say(f"backup {manifest.id} verified: {format_bytes(manifest.size_bytes)}, "
                f"{len(manifest.tables)} tables, {format_duration(manifest.duration_s)}, in {manifest.store}")
        if manifest.snapshot and manifest.snapshot.get("id"):
            ctx.say(f"snapshot: {manifest.snapshot['provider']} {manifest.snapshot['id']}")
        ctx.say(f"restore it with: pgwarden restore --backup-id {manifest.id} --confirm {manifest.database}")
    return EXIT_OK


COMMAND = Command(
    name="backup",
    description="Dump the database with pg_dump (custom or directory format), store it with a manifest of "
    "checksums and row counts, read it back to verify it, and only then mark it verified.",
    example="pgwarden backup --store s3://acme-backups/prod --format json > manifest.json\n"
    "pgwarden backup --dump-format directory --jobs 4 --compress gzip:6",
    add_arguments=_add_arguments,
    run=_run,
)
