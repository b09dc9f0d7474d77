"""``pgwarden resolve MIGRATION --applied|--rolled-back``: record what became of an unfinished migration.

A migration that started and did not finish (:mod:`pgwarden.pipeline.unfinished`) stops every
deploy until a human has looked at the database and says which it is: applied as a whole
(``--applied``: it is recorded as applied and never runs again) or not at all
(``--rolled-back``: whatever it left was undone by hand, the next deploy runs it again).

Under the deploy lock, so no deploy runs meanwhile. The decision is written to the audit log (a
``resolve`` line in ``deploy.audit_log`` and a ``pgwarden_history`` row, outcome
``resolved-applied`` / ``resolved-rolled-back``). For a tool whose history pgwarden writes itself
(the ``sql`` tool, :class:`~pgwarden.tools.base.RecordsResolutions`) the history is updated too,
which also resolves a migration it records as failed. For the other tools pgwarden does not write
their history: ``--applied`` needs the tool's history to show the migration applied already (so
the next deploy cannot run it again), and the result says what the tool still records.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pgwarden.audit import AuditLog, DeployRecord, current_actor, current_git_sha, new_run_id, record_deploy
from pgwarden.config import Settings
from pgwarden.errors import ConfigError, SafetyRefusal
from pgwarden.guards import resolve_environment
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pg.deploy_lock import DeployLock
from pgwarden.pg.unfinished import delete_rows
from pgwarden.pipeline.unfinished import settle_leftovers
from pgwarden.records import Check, MigrationStatus, Progress, StepResult
from pgwarden.tools import get_tool
from pgwarden.tools.base import MigrationTool, RecordsResolutions

_DONE = (MigrationStatus.APPLIED, MigrationStatus.EDITED)


def mark_applied_hint(tool: MigrationTool, name: str) -> str:
    """How to record ``name`` as applied in a tool's own history (pgwarden does not write it)."""
    table = tool.history_table
    hints = {
        "prisma": f"npx prisma migrate resolve --applied {name}",
        "alembic": f"alembic stamp {name}",
        "laravel": (f"insert into {table} (migration, batch) select '{name}', coalesce(max(batch), 0) + 1 "
                    f"from {table}"),
    }
    return hints.get(tool.name, f"record it as applied in {table} the way {tool.name} does")


def run_resolve(
    settings: Settings,
    target: DatabaseTarget,
    migration: str,
    *,
    applied: bool,
    reason: str | None = None,
    environment: str | None = None,
    progress: Progress | None = None,
) -> StepResult:
    """Record the decision for ``migration``; ConfigError (exit 2) when there is nothing to resolve."""
    say = progress or (lambda _line: None)
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    tool = get_tool(settings)
    decision = "applied" if applied else "rolled-back"
    run_id = new_run_id()
    audit = AuditLog(path=settings.resolve_path(settings.deploy.audit_log), actor=current_actor(),
                     environment=resolve_environment(environment, settings.environment),
                     git_sha=current_git_sha(settings.base_dir), run_id=run_id, database=target.dbname)
    lock = DeployLock(target, wait_s=settings.deploy.lock_wait)
    lock.acquire()
    try:
        with connection(target) as conn:
            unknown = {u.migration: u for u in settle_leftovers(tool, conn)}
            status = {m.name: m.status for m in tool.migrations(conn)}
            failed = {m.name for m in tool.failed(conn)} | {n for n, s in status.items() if s is MigrationStatus.FAILED}
            was = _refuse_nothing_to_resolve(tool, migration, unknown, failed, status, applied)
            if isinstance(tool, RecordsResolutions):
                tool.record_resolution(conn, migration, applied=applied)
            delete_rows(conn, tool.name, [migration], state=None)
            record_deploy(conn, DeployRecord(
                run_id=run_id, started_at=started_at, actor=audit.actor, environment=audit.environment,
                git_sha=audit.git_sha, tool=tool.name, migrations_applied=[migration] if applied else [],
                backup_id=None, no_backup_reason=None, outcome=f"resolved-{decision}", failed_migration=migration,
                error=reason, details={"action": "resolve", "decision": decision, "was": was, "reason": reason},
            ))
            still_failed = migration in {m.name for m in tool.failed(conn)}
    finally:
        lock.release()
    audit.write("resolve", decision, duration_s=time.monotonic() - started, migration=migration, was=was,
                reason=reason, tool=tool.name)
    checks = [Check("recorded in the audit log", True, f"{audit.path} and pgwarden_history")]
    summary = f"{migration} resolved as {decision} (it was {was})"
    if still_failed:
        hint = tool.resolve_hint(migration)
        checks.append(Check(f"{tool.name} history", False, f"still records {migration} as failed: {hint}",
                            warning=True))
        summary += f"; {tool.name} still records it as failed: {hint}"
    elif not applied:
        summary += "; the next deploy runs it again"
    say(summary)
    details: dict[str, Any] = {"migration": migration, "decision": decision, "was": was, "reason": reason,
                               "tool": tool.name, "run_id": run_id, "audit_log": str(audit.path)}
    return StepResult("resolve", True, summary, time.monotonic() - started, checks, details)


def _refuse_nothing_to_resolve(tool: MigrationTool, migration: str, unknown: dict[str, Any], failed: set[str],
                               status: dict[str, MigrationStatus], applied: bool) -> str:
    """What ``migration`` is now (``unknown``/``failed``), or a ConfigError/SafetyRefusal saying why not."""
    if migration in unknown:
        was = f"unknown: {unknown[migration].why}"
    elif migration in failed and isinstance(tool, RecordsResolutions):
        was = "failed"
    else:
        open_ones = sorted(set(unknown) | (failed if isinstance(tool, RecordsResolutions) else set()))
        listing = ", ".join(open_ones) if open_ones else "none"
        if migration in failed:
            raise ConfigError(f"{migration} is recorded as failed by {tool.name}, not left unfinished by pgwarden; "
                              f"resolve it with the tool: {tool.resolve_hint(migration)}")
        state = status[migration].value if migration in status else "not a migration of this project"
        raise ConfigError(f"{migration}: nothing to resolve (it is {state}); migrations to resolve: {listing}")
    if applied and not isinstance(tool, RecordsResolutions) and status.get(migration) not in _DONE:
        raise SafetyRefusal(
            f"{tool.name} does not record {migration} as applied: the next deploy would run it again",
            hint=f"record it in {tool.history_table} first ({mark_applied_hint(tool, migration)}), "
                 f"then run pgwarden resolve {migration} --applied again",
        )
    return was
