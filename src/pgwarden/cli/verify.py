"""``pgwarden verify``: a thin wrapper over :func:`pgwarden.pipeline.verify.run_verify`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context, json_text
from pgwarden.errors import EXIT_FAILED, EXIT_OK


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backup-id", metavar="ID",
                        help="compare row counts with this backup (default: the backup of the last deploy)")
    parser.add_argument("--restored-from", metavar="ID",
                        help="verify a restore from this backup: its migration head, every table's row count")
    parser.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.verify import run_verify
    from pgwarden.report.markdown import render_checks_markdown

    result = run_verify(ctx.settings, ctx.target(), backup_id=ctx.args.backup_id,
                        restored_from=ctx.args.restored_from, progress=ctx.note)
    if ctx.json:
        if ctx.args.output:
            ctx.write_output(json_text(result.to_json()), ctx.args.output, redacted=True)
        else:
            ctx.emit_json(result.to_json())
    elif ctx.format == "markdown":
        ctx.write_output(render_checks_markdown(result), ctx.args.output)
    else:
        lines = []
        for check in result.checks:
            mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
            lines.append(f"{mark} {check.name}" + (f": {check.detail}" if check.detail else ""))
        lines.append(result.summary)
        if ctx.args.output:
            ctx.write_output("\n".join(lines) + "\n", ctx.args.output)
        else:
            for line in lines:
                ctx.say(line)
    return EXIT_OK if result.ok else EXIT_FAILED


COMMAND = Command(
    name="verify",
    description=(
        "Prove the database is sound after a deploy: every migration applied and none failed, no INVALID "
        "index or lost primary key, row counts of untouched tables within verify.row_count_tolerance of the "
        "backup, verify.checks queries true, verify.health_urls answering. Exit 1 when a check fails; failing "
        "checks are listed first."
    ),
    example="pgwarden verify --backup-id 20240601T120000Z-1a2b --format markdown >> \"$GITHUB_STEP_SUMMARY\"",
    add_arguments=_add_arguments,
    run=_run,
    formats=("text", "markdown", "json"),
)
