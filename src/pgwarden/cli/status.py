"""``pgwarden status``: migrations, newest verified backup, last deploys."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

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
            f"{len(m['failed'])} failed, {len(m['unknown'])} unknown; head {m['head'] or '-'}")
    for name in m["pending"]:
        ctx.say(f"  pending  {name}")
    for name in m["failed"] + m["edited"]:
        ctx.say(f"  PROBLEM  {name}")
    for item in d.get("unfinished", []):
        ctx.say(f"  UNKNOWN  {item['migration']}: started and did not finish, may be partly applied "
                f"({item['why']}); once checked: pgwarden resolve {item['migration']} --applied|--rolled-back")
    backup = d.get("latest_backup")
    ctx.say(f"backup     {backup['id'] + ' (' + str(backup['created_at']) + ')' if backup else 'no verified backup'}")
    for deploy in d.get("last_deploys", []):
        ctx.say(f"deploy     {_deploy_line(deploy)}")
    for check in result.checks:
        if not check.ok:
            ctx.say(f"{'warning' if check.warning else 'FAILED '}    {check.name}: {check.detail}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _deploy_line(deploy: dict[str, Any]) -> str:
    """One line per recorded deploy: when, outcome, who, where, what, and which backup."""
    started = deploy.get("started_at")
    when = started.strftime("%Y-%m-%d %H:%M UTC") if isinstance(started, dt.datetime) else str(started)
    applied = deploy.get("migrations_applied") or []
    backup = deploy.get("backup_id") or f"none ({deploy.get('no_backup_reason') or 'no reason given'})"
    if str(deploy.get("outcome") or "").startswith("resolved-"):
        reason = f": {deploy['error']}" if deploy.get("error") else ""
        return (f"{when} {deploy['outcome']} {deploy.get('failed_migration')} by {deploy.get('actor') or '?'}"
                f"{reason}; run {deploy.get('run_id')}")
    line = (f"{when} {deploy.get('outcome')} by {deploy.get('actor') or '?'}"
            f" in {deploy.get('environment') or 'no environment'}: {len(applied)} migration(s)"
            f"{', last ' + applied[-1] if applied else ''}; backup {backup}; run {deploy.get('run_id')}")
    if deploy.get("failed_migration"):
        line += f"; FAILED at {deploy['failed_migration']}"
    return line


COMMAND = Command(
    name="status",
    example="DATABASE_URL=postgresql://app@db/shop pgwarden status --format json",
    add_arguments=_add_arguments,
    run=_run,
)
