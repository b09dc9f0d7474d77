"""``pgwarden status``: migrations, newest verified backup, last deploys."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.errors import EXIT_FAILED, EXIT_OK


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.status import database_status

    result = database_status(ctx.settings, ctx.target())
    if ctx.json:
        ctx.emit_json(result.to_json())
        return EXIT_OK if result.ok else EXIT_FAILED
    d = result.details
    m = d["migrations"]
    ctx.say(f"database   {d['server']} (PostgreSQL {d['server_version']}, {d['tables']} tables)")
    ctx.say(f"migrations {m['tool']}: {len(m['applied'])} applied, {len(m['pending'])} pending, "
            f"{len(m['failed'])} failed; head {m['head'] or '-'}")
    for name in m["pending"]:
        ctx.say(f"  pending  {name}")
    for name in m["failed"] + m["edited"]:
        ctx.say(f"  PROBLEM  {name}")
    backup = d.get("latest_backup")
    ctx.say(f"backup     {backup['id'] + ' (' + str(backup['created_at']) + ')' if backup else 'no verified backup'}")
    for deploy in d.get("last_deploys", []):
        ctx.say(f"deploy     {deploy}")
    for check in result.checks:
        if not check.ok:
            ctx.say(f"{'warning' if check.warning else 'FAILED '}    {check.name}: {check.detail}")
    return EXIT_OK if result.ok else EXIT_FAILED


COMMAND = Command(
    name="status",
    help="show migrations, the newest verified backup and the last deploys",
    example="DATABASE_URL=postgresql://app@db/shop pgwarden status --format json",
    add_arguments=_add_arguments,
    run=_run,
)
