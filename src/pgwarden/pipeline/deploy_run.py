"""The state of one deploy while it runs, and the two things every stage does with it.

Every stage (preconditions, pre-flight, hooks, attempts) adds to one :class:`DeployRun`, writes
its audit line through :meth:`DeployRun.step`, and runs hooks through :meth:`DeployRun.hook`;
:mod:`pgwarden.pipeline.deploy_record` turns the finished run into the result and the history row.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from pgwarden.audit import AuditLog
from pgwarden.config import Settings
from pgwarden.pg.blockers import BlockingSession
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.deploy_lock import DeployLock
from pgwarden.pipeline.deploy_hooks import HookRun, run_hook
from pgwarden.pipeline.deploy_preconditions import BackupChoice
from pgwarden.records import Check, Migration, Progress
from pgwarden.tools.base import MigrationTool


@dataclass
class DeployRun:
    """Mutable state of one deploy, turned into the StepResult at the end."""

    settings: Settings
    target: DatabaseTarget
    tool: MigrationTool
    audit: AuditLog
    say: Progress
    run_id: str
    environment: str | None
    started_at: dt.datetime
    started: float
    backup: BackupChoice | None = None
    checks: list[Check] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    hooks: list[HookRun] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    preflight: list[BlockingSession] = field(default_factory=list)
    #: Tables with a primary key before migrating: verify reports any that lost it.
    tables_with_pk: list[str] = field(default_factory=list)
    max_wait_s: float = 0.0
    failed_migration: str | None = None
    error: str | None = None
    output: str = ""
    #: The deploy lock, once held; the pending migrations as the tool listed them then.
    lock: DeployLock | None = None
    pending_migrations: list[Migration] = field(default_factory=list)
    #: Migrations this deploy started that did not finish and may be partly applied (names).
    unknown: list[str] = field(default_factory=list)
    #: The deploy lock's session was lost: nothing more is started, no hook runs.
    lock_lost: bool = False
    #: A rehearsal (``pgwarden rehearse``) on a scratch copy: no hook runs (hooks act on the production
    #: app, ``php artisan down``) and a failure names no restore command (nothing is to be restored).
    rehearsal: bool = False

    def lock_alive(self) -> bool:
        """False once the deploy lock is lost (then :attr:`lock_lost` is set); True without a lock."""
        if self.lock is not None and not self.lock_lost and not self.lock.alive():
            self.lock_lost = True
        return not self.lock_lost

    @property
    def backup_id(self) -> str | None:
        return self.backup.backup_id if self.backup else None

    def step(self, action: str, outcome: str, started: float, **fields: Any) -> None:
        """One audit line for a stage that began at ``started`` (``time.monotonic()``)."""
        self.audit.write(action, outcome, duration_s=time.monotonic() - started, **fields)

    def hook_env(self) -> dict[str, str]:
        return {
            "PGWARDEN_RUN_ID": self.run_id,
            "PGWARDEN_ENVIRONMENT": self.environment or "",
            "PGWARDEN_DATABASE": self.target.dbname,
            "PGWARDEN_BACKUP_ID": self.backup_id or "",
        }

    def hook(self, stage: str, command: str | None) -> HookRun | None:
        """Run the ``stage`` hook when one is configured, recording it; None when there is none (or
        in a rehearsal)."""
        if not command or self.rehearsal:
            return None
        self.say(f"hook {stage}: {command}")
        started = time.monotonic()
        run = run_hook(stage, command, self.settings, self.hook_env())
        self.hooks.append(run)
        self.step(f"hook.{stage}", "succeeded" if run.ok else "failed", started,
                  command=command, exit_code=run.exit_code, output=run.output)
        if not run.ok:
            self.say(f"hook {stage} failed (exit {run.exit_code}): {run.output.strip()[-500:]}")
        return run
