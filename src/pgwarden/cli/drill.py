"""``pgwarden drill``: a thin wrapper over :func:`pgwarden.pipeline.drill.run_drill`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.cli.restore import print_result
from pgwarden.durations import DURATION_HELP, parse_duration
from pgwarden.errors import EXIT_FAILED, EXIT_OK, ConfigError


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URI", help="file://DIR or s3://bucket/prefix (default: backup.store)")
    parser.add_argument("--max-age", metavar="DURATION",
                        help="fail when the database's newest verified backup is older (default: drill.max_age, 26h)")


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.drill import run_drill

    max_age = None
    if ctx.args.max_age is not None:
        try:
            max_age = parse_duration(ctx.args.max_age)
        except ValueError:
            raise ConfigError(f"--max-age: expected {DURATION_HELP}, got {ctx.args.max_age!r}") from None
    result = run_drill(ctx.settings, ctx.target(), store_uri=ctx.args.store, max_age=max_age, progress=ctx.note)
    print_result(ctx, result)
    return EXIT_OK if result.ok else EXIT_FAILED


COMMAND = Command(
    name="drill",
    description="A restore drill: proves the newest verified backup of the database (name and server) restores, "
    "runs verify.checks on the copy, reports backup age, restore duration and row-count match; exit 1 when the "
    "backup is older than --max-age.",
    example="pgwarden drill --max-age 26h --format json",
    add_arguments=_add_arguments,
    run=_run,
)
