"""``pgwarden demo``: the whole pipeline on an embedded PostgreSQL, nothing to set up."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgwarden.cli.common import Command, Context
from pgwarden.errors import EXIT_FAILED, EXIT_OK


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", metavar="DIR",
                        help="where to put the sample app, backups and reports (default: a new temp dir)")


def _run(ctx: Context) -> int:
    from pgwarden.demo import run_demo

    workdir = Path(ctx.args.workdir) if ctx.args.workdir else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    outcome = run_demo(ctx.say if not ctx.json else ctx.note, workdir)
    if ctx.json:
        ctx.emit_json({
            "ok": outcome.ok,
            "workdir": str(outcome.workdir),
            "steps": [{"step": n, "ok": ok, "summary": s} for n, ok, s in outcome.steps],
        })
    return EXIT_OK if outcome.ok else EXIT_FAILED


COMMAND = Command(
    name="demo",
    description=(
        "Start a throwaway PostgreSQL 18, install a sample shop with a few thousand rows, and run the\n"
        "whole pipeline on four pending migrations (one of them risky). Then damage a table and restore\n"
        "it from the backup. Needs no database, no network and no configuration."
    ),
    example="pgwarden demo",
    add_arguments=_add_arguments,
    run=_run,
    uses_config=False,
)
