"""``pgwarden resolve``: a thin wrapper over :func:`pgwarden.pipeline.resolve.run_resolve`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.errors import EXIT_OK


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("migration", metavar="MIGRATION", help="the unfinished migration, as deploy and status name it")
    decision = parser.add_mutually_exclusive_group(required=True)
    decision.add_argument("--applied", action="store_true",
                          help="it is applied as a whole (finished by hand if need be): never run it again")
    decision.add_argument("--rolled-back", action="store_true",
                          help="nothing of it is left (undone by hand if need be): the next deploy runs it again")
    parser.add_argument("--reason", metavar="TEXT", help="what you checked, for the audit log")
    parser.add_argument("--environment", metavar="NAME",
                        help="environment name for the audit log (default: config 'environment', "
                             "else $PGWARDEN_ENVIRONMENT)")


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.resolve import run_resolve

    args = ctx.args
    result = run_resolve(ctx.settings, ctx.target(), args.migration, applied=args.applied, reason=args.reason,
                         environment=args.environment)
    if ctx.json:
        ctx.emit_json(result.to_json())
    else:
        ctx.say(result.summary)
    return EXIT_OK


COMMAND = Command(
    name="resolve",
    description=(
        "A migration that started and did not finish (pgwarden killed, its session terminated, a "
        "non-transactional migration failing half-way) may be partly applied, so deploy refuses (exit 4) "
        "until you have checked the database and recorded what you found: --applied (it is all there; it "
        "never runs again) or --rolled-back (nothing of it is left; the next deploy runs it again). "
        "The decision goes to the audit log; for the sql tool pgwarden's own history is updated too "
        "(which also resolves a failed migration). Takes the deploy lock."
    ),
    example=(
        "pgwarden status\n"
        "pgwarden resolve 0007_backfill_totals --rolled-back --reason 'dropped the half-built index by hand'"
    ),
    add_arguments=_add_arguments,
    run=_run,
)
