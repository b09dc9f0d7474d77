"""``pgwarden plan``: review the pending migrations and report the risks (a thin wrapper over
:func:`pgwarden.pipeline.plan.plan_migrations` and the reporters).

Output: the report in ``--format`` goes to stdout (or ``--output``); with json, sarif or
markdown a one-line verdict also goes to stderr. Under ``GITHUB_ACTIONS=true`` each finding
is also a workflow-command annotation on stdout, when stdout carries no document (text format,
or ``--output`` given); see :mod:`pgwarden.report.annotations`. Exit 3 when a finding reaches
``--fail-on``.
"""

from __future__ import annotations

import argparse
import json
import os

from pgwarden.cli.common import Command, Context
from pgwarden.errors import EXIT_OK, EXIT_PLAN_BLOCKED, ConfigError
from pgwarden.gcpause import cyclic_gc_paused
from pgwarden.records import SEVERITY_NAMES, PlanReport
from pgwarden.redact import redact_json

# The pipeline and the reporters load in ``_run``/``render``: every command imports this module to
# build its parser, and a plan renders one format (start-up is what a PR check pays, see bench/plan_speed.py).

FAIL_ON_CHOICES = (*SEVERITY_NAMES, "never")

EXAMPLE = """\
# review what `prisma migrate deploy` would run, with live table sizes, as a PR comment:
DATABASE_URL=postgres://reader@db/app pgwarden plan --format markdown --output plan.md

# review two SQL files statically; exit 3 if anything is medium or worse:
pgwarden plan --fail-on medium migrations/0007_orders.sql migrations/0008_index.sql

# a pull request without database access: pending = what this branch adds or changes vs main
pgwarden plan --base origin/main --format markdown --output plan.md

# the JSON contract, for scripts:
pgwarden plan --format json > plan.json

# add what the migrations did on a restored copy of production (pgwarden rehearse --format json):
pgwarden plan --rehearsal rehearse.json --format markdown --output plan.md
"""


def _fail_on(value: str) -> str:
    if value not in FAIL_ON_CHOICES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(FAIL_ON_CHOICES)}, got {value!r}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="SQL files or migration folders to plan as pending, in order (default: the configured tool's "
        "pending migrations)",
    )
    parser.add_argument(
        "--base",
        metavar="REF",
        help="without a database URL: pending = the migrations whose files were added or changed since "
        "`git merge-base REF HEAD` (working tree included); the others count as applied, a changed one "
        "as edited-after-apply. REF: a branch, tag or SHA, else origin/REF; unknown: exit 2. Ignored with a "
        "database URL (live history wins)",
    )
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument(
        "--rehearsal",
        metavar="FILE",
        help="the report `pgwarden rehearse --format json` printed: a migration that failed on the copy "
        "(rehearsal-failed, critical) and a lock that blocked queries longer than rehearsal.max_lock "
        "(rehearsal-long-lock, high) become findings, and the report shows what each migration did",
    )
    parser.add_argument(
        "--fail-on",
        type=_fail_on,
        metavar="SEVERITY|never",
        help="exit 3 when a finding is at or above this severity (info, low, medium, high, critical, never; "
        "default: risk.fail_on in the config, else high)",
    )


def render(report: PlanReport, fmt: str, *, output: str | None = None) -> str:
    """The report in one of plan's formats."""
    if fmt == "json":
        from pgwarden.report.json_document import document_text

        # one finding per line: same data, half json.dumps(indent=2)'s CPU
        return redact_json(report.to_json(), document_text)
    if fmt == "sarif":
        from pgwarden.report.sarif import render_sarif

        return redact_json(render_sarif(report),
                           lambda doc: json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    if fmt == "markdown":
        from pgwarden.report.markdown import render_markdown

        return render_markdown(report, full_report=f"`{output}`" if output else None)
    from pgwarden.report.text import render_text

    return render_text(report)


def _run(ctx: Context) -> int:
    # The cycle collector off for the whole plan, not only the review: the pipeline's modules and
    # pglast as they load, the files read and the report built hold no garbage cycles worth walking.
    with cyclic_gc_paused():
        return _plan(ctx)


def _plan(ctx: Context) -> int:
    from pgwarden.pipeline.plan import plan_migrations
    from pgwarden.report.annotations import annotation_lines
    from pgwarden.report.findings import verdict

    args = ctx.args
    fail_on = args.fail_on or ctx.settings.risk.fail_on
    if fail_on not in FAIL_ON_CHOICES:
        raise ConfigError(f"risk.fail_on: expected one of {', '.join(FAIL_ON_CHOICES)}, got {fail_on!r}")
    rehearsal = None
    if args.rehearsal:
        from pgwarden.pipeline.plan_rehearsal import load_rehearsal

        rehearsal = load_rehearsal(args.rehearsal)
    target = ctx.target() if ctx.has_database_url() else None
    if target is not None:
        ctx.note(f"pgwarden plan: reading live context from {target.display()} (read-only)")
    report = plan_migrations(ctx.settings, paths=list(args.paths or []), target=target, fail_on=fail_on,
                             base=args.base, rehearsal=rehearsal)
    document = render(report, ctx.format, output=args.output)
    ctx.write_output(document, args.output, redacted=ctx.format in ("json", "sarif"))
    if ctx.format != "text" or args.output:
        ctx.note(f"pgwarden plan: {verdict(report)} ({report.basis_line()})")
    if os.environ.get("GITHUB_ACTIONS") == "true" and (ctx.format == "text" or args.output):
        # Workflow commands belong on stdout, which must stay a clean document otherwise.
        for line in annotation_lines(report):
            print(line, file=ctx.stdout, flush=True)
    return EXIT_PLAN_BLOCKED if report.blocked else EXIT_OK


COMMAND = Command(
    name="plan",
    description=(
        "Review the pending migrations (or the PATHs given) and report each risk with its safe "
        "alternative. With a database URL, reads the history, table sizes and column facts read-only; "
        "without one, --base REF takes what is pending from git (the history back to the merge-base must be "
        "there: actions/checkout with fetch-depth: 0). The report says which it used: `basis` in the JSON "
        "document is live, diff (then `base` is REF@merge-base, e.g. origin/main@1a2b3c4) or static "
        "(everything listed is pending)."
    ),
    example=EXAMPLE,
    add_arguments=_add_arguments,
    run=_run,
    formats=("text", "markdown", "json", "sarif"),
)
