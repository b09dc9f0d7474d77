"""``pgwarden deploy``: apply pending migrations under safety limits, with an audit trail.

The seeds' apply procedure (マイグレーション適用手順) as one function, :func:`run_deploy`; each
stage lives in its own module:

1. Preconditions (:mod:`~pgwarden.pipeline.deploy_preconditions`), each a
   :class:`~pgwarden.errors.SafetyRefusal` (exit 4) before anything runs: no destructive command
   in a protected environment, a verified backup of this database (or ``--no-backup --reason``),
   the deploy lock, no migration left unfinished (:mod:`~pgwarden.pipeline.unfinished`), no failed
   migration in the tool's history.
2. Pre-flight (:mod:`~pgwarden.pipeline.deploy_preflight`): sessions in a transaction holding
   locks on the tables the migrations touch are reported (and waited for, up to ``deploy.preflight_wait``).
3. Hooks ``pre`` (e.g. ``php artisan down``, :mod:`~pgwarden.pipeline.deploy_hooks`), the migration
   tool under ``lock_timeout`` / ``statement_timeout`` with the lock watchdog on a second connection,
   then ``post``; ``on_failure`` whenever the deploy fails, whatever failed.
4. Each attempt records the migrations it hands to the tool before it runs, and afterwards settles
   them: a migration that may be partly applied stops the deploy until ``pgwarden resolve``. A
   deploy whose lock session is lost stops the tool and starts nothing more, hooks included.
   A lock timeout, or a cancel by the watchdog, is retried with exponential backoff up to
   ``deploy.retries`` (:mod:`~pgwarden.pipeline.deploy_attempts`; a retry starts early once the
   transactions it queued behind are gone).
5. One JSON line per step in ``deploy.audit_log`` and one row in ``pgwarden_history``
   (:mod:`~pgwarden.pipeline.deploy_record`).

A failed migration is not an exception: the result has ``ok=False`` with the migration, the
error, the tool's output, the history table and the exact restore command.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from pgwarden.audit import AuditLog, current_actor, current_git_sha, new_run_id
from pgwarden.config import Settings
from pgwarden.errors import SafetyRefusal
from pgwarden.guards import resolve_environment
from pgwarden.pg.catalog import tables_with_primary_key
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pg.deploy_lock import DeployLock
from pgwarden.pipeline.deploy_attempts import apply_with_retries
from pgwarden.pipeline.deploy_preconditions import (
    BackupChoice,
    refuse_failed_state,
    refuse_forbidden_commands,
    require_backup,
)
from pgwarden.pipeline.deploy_preflight import preflight
from pgwarden.pipeline.deploy_record import fail, finish
from pgwarden.pipeline.deploy_run import DeployRun
from pgwarden.pipeline.unfinished import refuse_unknown
from pgwarden.records import Check, Migration, Progress, StepResult
from pgwarden.redact import redact
from pgwarden.tools import get_tool


def _noop(_message: str) -> None:
    return None


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal gives the deploy path instead of what a deploy finds itself."""

    #: The backup restored into the scratch copy (its id is the run's backup).
    backup: BackupChoice
    #: Where the run's audit lines go (``rehearse.*`` actions in the deploy's audit log).
    audit: AuditLog


def run_deploy(
    settings: Settings,
    target: DatabaseTarget,
    *,
    backup_id: str | None = None,
    no_backup_reason: str | None = None,
    environment: str | None = None,
    allow_failed_state: bool = False,
    run_id: str | None = None,
    progress: Progress | None = None,
    allow_other_database: bool = False,
    rehearsal: Rehearsal | None = None,
) -> StepResult:
    """Deploy pending migrations; see the module docstring for the steps.

    Raises :class:`SafetyRefusal` (exit 4) when a precondition fails (nothing ran) and
    :class:`ConfigError` for bad usage. Returns ``ok=False`` when a migration or hook failed.
    With ``rehearsal`` the same path runs on a scratch copy (``target``) for ``pgwarden rehearse``:
    the backup is the one restored there, no hook runs, the audit lines go to ``rehearsal.audit``.
    """
    say = progress or _noop
    tool = get_tool(settings)
    run_id = run_id or new_run_id()
    env_name = resolve_environment(environment, settings.environment)
    audit = rehearsal.audit if rehearsal is not None else AuditLog(
        path=settings.resolve_path(settings.deploy.audit_log),
        actor=current_actor(),
        environment=env_name,
        git_sha=current_git_sha(settings.base_dir),
        run_id=run_id,
        database=target.dbname,
    )
    run = DeployRun(settings, target, tool, audit, say, run_id, env_name,
                    dt.datetime.now(dt.timezone.utc), time.monotonic(), rehearsal=rehearsal is not None)
    say(f"deploying to {target.display()} (environment: {env_name or 'unnamed'}, tool: {tool.name}, run {run_id})")

    lock: DeployLock | None = None
    started = time.monotonic()
    try:
        run.checks.append(refuse_forbidden_commands(settings, tool, env_name))
        tool.refuse_unsafe_run(target)
        run.backup = rehearsal.backup if rehearsal is not None else require_backup(
            settings, target, backup_id, no_backup_reason, allow_other_database=allow_other_database, say=say)
        run.checks.append(Check("verified backup", run.backup.backup_id is not None, run.backup.description,
                                warning=run.backup.backup_id is None))
        say(f"backup: {run.backup.description}")
        lock = DeployLock(target, wait_s=settings.deploy.lock_wait)
        lock.acquire()
        run.lock = lock
        run.checks.append(Check("deploy lock", True, f"advisory lock {lock.key} held"))
        with connection(target) as conn:
            run.checks.append(refuse_unknown(tool, conn))
            run.checks.append(refuse_failed_state(tool, conn, allow_failed_state))
            pending = tool.pending(conn)
            run.pending_migrations = list(pending)
            run.tables_with_pk = tables_with_primary_key(conn)
    except SafetyRefusal as exc:
        if lock is not None:
            lock.release()
        run.step("preconditions", "refused", started, reason=str(exc))
        raise
    except BaseException as exc:
        if lock is not None:
            lock.release()
        run.step("preconditions", "error", started, reason=str(exc))
        raise
    run.step("preconditions", "passed", started, backup_id=run.backup.backup_id,
             no_backup_reason=no_backup_reason, checks=[c.to_json() for c in run.checks])

    try:
        return _deploy_locked(run, pending)
    finally:
        lock.release()


def _deploy_locked(run: DeployRun, pending: list[Migration]) -> StepResult:
    settings, target, say = run.settings, run.target, run.say
    run.pending = [m.name for m in pending]
    if not pending:
        say("nothing to deploy: every migration is applied")
        return finish(run, ok=True, summary="nothing to deploy: every migration is applied")
    say(f"{len(pending)} pending: {', '.join(run.pending)}")
    preflight(run, pending)

    try:
        if not run.lock_alive():
            run.error = "the deploy lock was lost (its session ended) before anything ran: stopped"
            return fail(run)
        pre = run.hook("pre", settings.deploy.hooks.pre)
        if pre is not None and not pre.ok:
            run.error = f"the pre hook failed (exit {pre.exit_code}); no migration was run"
            return fail(run)
        result = apply_with_retries(run)
        if not result.ok or run.lock_lost:
            return fail(run)
        post = run.hook("post", settings.deploy.hooks.post)
        if post is not None and not post.ok:
            run.error = f"migrations applied, but the post hook failed (exit {post.exit_code})"
            return fail(run)
    except BaseException as exc:
        # Whatever happened (a bug, Ctrl-C), on_failure still runs: it usually ends maintenance mode.
        run.error = redact(str(exc)) or type(exc).__name__
        fail(run)
        raise
    applied = ", ".join(run.applied) or "nothing"
    wait = f"; others waited at most {run.max_wait_s:.2f}s on the migration"
    return finish(run, ok=True, summary=f"applied {len(run.applied)} migration(s) to {target.dbname}: {applied}{wait}")
