"""Recording a deploy: the ``pgwarden_history`` row, the closing audit line, and the StepResult.

Also the restore command a failed deploy reports, and the ``on_failure`` path that leads to it.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from pgwarden.audit import DeployRecord, record_deploy
from pgwarden.errors import PgwardenError
from pgwarden.names import AUDIT_TABLE
from pgwarden.pg.connection import connect
from pgwarden.pipeline.deploy_run import DeployRun
from pgwarden.records import Check, StepResult
from pgwarden.redact import redact, redact_data


def restore_command(backup_id: str | None, dbname: str) -> str | None:
    """The exact command a responder runs to put the database back as it was before this deploy."""
    if not backup_id:
        return None
    return f"pgwarden restore --backup-id {backup_id} --confirm {dbname}"


def fail(run: DeployRun) -> StepResult:
    """Run on_failure, then build the failure result (with the history and restore command).

    A deploy that lost its lock runs no hook: another deploy may be running its own by now.
    """
    if run.lock_lost:
        if run.settings.deploy.hooks.on_failure:
            run.say("on_failure hook not run: the deploy lock was lost and another deploy may be running")
    else:
        run.hook("on_failure", run.settings.deploy.hooks.on_failure)
    command = None if run.rehearsal else restore_command(run.backup_id, run.target.dbname)
    what = f"migration {run.failed_migration} failed" if run.failed_migration else "deploy failed"
    summary = f"{what}: {run.error or 'unknown error'}"
    if command:
        summary += f". To restore the backup taken for this deploy: {command}"
    elif not run.rehearsal:
        summary += ". No backup was taken for this deploy (--no-backup): restore from your own backups"
    return finish(run, ok=False, summary=summary, restore=command)


def _failed_in_history(run: DeployRun, conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """What the tool's history holds as failed and the tool's next step; nothing when it cannot say.

    A lookup that fails must not keep the deploy from being recorded below.
    """
    try:
        with conn.transaction():
            failed = run.tool.failed(conn)
    except (PgwardenError, psycopg.Error):
        return {}
    return {"failed_in_history": [m.name for m in failed],
            "resolve_hint": redact(run.tool.resolve_hint(failed[0].name)) if failed else None}


def finish(run: DeployRun, *, ok: bool, summary: str, restore: str | None = None) -> StepResult:
    """Record the deploy (history table + audit line) and build the StepResult."""
    duration = time.monotonic() - run.started
    history: list[dict[str, Any]] = []
    outcome = "succeeded" if ok else "failed"
    backup_id = run.backup_id
    no_backup_reason = run.backup.no_backup_reason if run.backup is not None else None
    details: dict[str, Any] = {
        "run_id": run.run_id,
        "database": run.target.dbname,
        "environment": run.environment,
        "tool": run.tool.name,
        "pending": run.pending,
        "applied": run.applied,
        "backup_id": backup_id,
        "no_backup_reason": no_backup_reason,
        "failed_migration": run.failed_migration,
        "unfinished": run.unknown,
        "lock_lost": run.lock_lost,
        "error": redact(run.error) if run.error else None,
        "output": run.output,
        "restore_command": restore if not ok or run.rehearsal else restore_command(backup_id, run.target.dbname),
        "max_wait_s": round(run.max_wait_s, 3),
        "attempts": run.attempts,
        "preflight_blockers": [b.to_json() for b in run.preflight],
        "hooks": [h.to_json() for h in run.hooks],
        "audit_log": str(run.audit.path),
    }
    try:
        with connect(run.target) as conn:
            if not ok:
                history = redact_data(run.tool.history_state(conn))
                # The tool's own words for what to do next (Prisma's carries its working directory):
                # the PR comment and the step summary print this instead of guessing from the tool name.
                details.update(_failed_in_history(run, conn))
            record_deploy(conn, DeployRecord(
                run_id=run.run_id, started_at=run.started_at, actor=run.audit.actor, environment=run.environment,
                git_sha=run.audit.git_sha, tool=run.tool.name, migrations_applied=run.applied,
                backup_id=backup_id, no_backup_reason=no_backup_reason, outcome=outcome,
                failed_migration=run.failed_migration, error=run.error, max_wait_s=run.max_wait_s,
                details={"attempts": len(run.attempts), "hooks": [h.stage for h in run.hooks],
                         "tables_with_pk": run.tables_with_pk, "approved_by": run.audit.approved_by},
            ))
    except (PgwardenError, psycopg.Error) as exc:
        details["history_error"] = redact(str(exc))
        run.say(f"could not record the deploy in {AUDIT_TABLE}: {details['history_error']}")
    details["history"] = history
    run.audit.write("deploy", outcome, duration_s=duration, applied=run.applied, backup_id=backup_id,
                    no_backup_reason=no_backup_reason, failed_migration=run.failed_migration, error=run.error,
                    max_wait_s=round(run.max_wait_s, 3), restore_command=details["restore_command"])
    run.say(summary)
    checks = [Check(c.name, c.ok, redact(c.detail), c.warning) for c in run.checks]
    return StepResult("deploy", ok, redact(summary), duration, checks, redact_data(details))
