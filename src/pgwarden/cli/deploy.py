"""``pgwarden deploy``: a thin wrapper over :func:`pgwarden.pipeline.deploy.run_deploy`."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.errors import EXIT_FAILED, EXIT_OK, ConfigError


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    backup = parser.add_mutually_exclusive_group()
    backup.add_argument("--backup-id", metavar="ID",
                        help="the verified backup taken for this deploy (default: the newest verified backup "
                             "of this database not older than backup.max_age)")
    backup.add_argument("--no-backup", action="store_true",
                        help="deploy without a backup; needs --reason, which is written to the audit log")
    parser.add_argument("--reason", metavar="TEXT", help="why deploying without a backup is acceptable")
    parser.add_argument("--allow-other-database", action="store_true",
                        help="accept a backup of another database or server (by default the backup must be "
                             "of the database deployed to)")
    parser.add_argument("--environment", metavar="NAME",
                        help="environment name (default: config 'environment', else $PGWARDEN_ENVIRONMENT); "
                             "protected ones refuse destructive commands")
    parser.add_argument("--allow-failed-state", action="store_true",
                        help="deploy even though the tool's history records a failed migration")
    parser.add_argument("--run-id", metavar="ID", help="run id for the audit trail (default: $GITHUB_RUN_ID)")


def _run(ctx: Context) -> int:
    from pgwarden.pipeline.deploy import run_deploy

    args = ctx.args
    if args.no_backup and not (args.reason or "").strip():
        raise ConfigError("deploy: --no-backup needs --reason TEXT (it is written to the audit log)")
    if args.reason and not args.no_backup:
        raise ConfigError("deploy: --reason goes with --no-backup")
    result = run_deploy(
        ctx.settings,
        ctx.target(),
        backup_id=args.backup_id,
        no_backup_reason=args.reason if args.no_backup else None,
        environment=args.environment,
        allow_failed_state=args.allow_failed_state,
        allow_other_database=args.allow_other_database,
        run_id=args.run_id,
        progress=ctx.note,
    )
    if ctx.json:
        ctx.emit_json(result.to_json())
    else:
        d = result.details
        for name in d.get("applied", []):
            ctx.say(f"applied   {name}")
        if not result.ok:
            ctx.say(f"FAILED    {d.get('failed_migration') or 'deploy'}: {d.get('error')}")
            if d.get("output"):
                ctx.say("tool output:\n" + str(d["output"]).rstrip())
            for row in d.get("history", []):
                ctx.say(f"history   {row}")
            if d.get("restore_command"):
                ctx.say(f"restore   {d['restore_command']}")
        ctx.say(result.summary)
    return EXIT_OK if result.ok else EXIT_FAILED


COMMAND = Command(
    name="deploy",
    description=(
        "Apply pending migrations. Refuses (exit 4) without a verified backup of this database, while "
        "another deploy holds the deploy lock, with a failed migration in the history, or with a "
        "destructive command in a protected environment. Runs the tool under lock_timeout and "
        "statement_timeout, retries lock timeouts, and cancels the migration if other sessions wait "
        "behind it longer than deploy.max_blocking. Exit 1 when a migration fails, with the restore command."
    ),
    example=(
        "pgwarden backup --format json > backup.json\n"
        "pgwarden deploy --backup-id \"$(jq -r .id backup.json)\" --environment production\n"
        "pgwarden deploy --no-backup --reason 'empty staging database' --environment staging"
    ),
    add_arguments=_add_arguments,
    run=_run,
)
