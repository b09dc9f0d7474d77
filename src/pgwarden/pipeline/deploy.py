"""``pgwarden deploy``: apply pending migrations under safety limits, with an audit trail.

The seeds' apply procedure (マイグレーション適用手順) as one function, :func:`run_deploy`:

1. Preconditions, each a :class:`~pgwarden.errors.SafetyRefusal` (exit 4) before anything runs:
   no destructive command in a protected environment, a verified backup of this database
   (or ``--no-backup --reason``), the deploy lock, no failed migration in the tool's history.
2. Pre-flight: sessions in a transaction holding locks on the tables the migrations touch are
   reported (and waited for, up to ``deploy.preflight_wait``).
3. Hooks ``pre`` (e.g. ``php artisan down``), the migration tool under ``lock_timeout`` /
   ``statement_timeout`` with the lock watchdog on a second connection, then ``post``;
   ``on_failure`` whenever the deploy fails, whatever failed.
4. A lock timeout, or a cancel by the watchdog, is retried with exponential backoff up to
   ``deploy.retries`` (a retry starts early once the transactions it queued behind are gone).
5. One JSON line per step in ``deploy.audit_log`` and one row in ``pgwarden_history``.

A failed migration is not an exception: the result has ``ok=False`` with the migration, the
error, the tool's output, the history table and the exact restore command.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgwarden.audit import AuditLog, DeployRecord, current_actor, current_git_sha, new_run_id, record_deploy
from pgwarden.config import Settings
from pgwarden.durations import format_duration
from pgwarden.errors import ConfigError, OperationFailed, PgwardenError, SafetyRefusal
from pgwarden.guards import find_forbidden, is_protected, resolve_environment
from pgwarden.names import QualifiedName
from pgwarden.pg.blockers import BlockingSession, find_blocking_sessions, transactions_alive
from pgwarden.pg.catalog import tables_with_primary_key
from pgwarden.pg.connection import DatabaseTarget, connect, connection
from pgwarden.pg.deploy_lock import DeployLock
from pgwarden.pg.watchdog import LockWatchdog, WatchdogReport
from pgwarden.records import Check, Migration, MigrationStatus, StepResult
from pgwarden.redact import redact
from pgwarden.risk.touched import tables_touched
from pgwarden.tools import get_tool
from pgwarden.tools.base import ApplyResult, MigrationTool, SessionLimits

Progress = Callable[[str], None]
HOOK_TIMEOUT_S = 15 * 60.0
OUTPUT_LIMIT = 8000
#: Transactions older than this holding locks on a migrated table count as pre-flight blockers.
LONG_TRANSACTION_S = 1.0


def _noop(_message: str) -> None:
    return None


def restore_command(backup_id: str | None, dbname: str) -> str | None:
    """The exact command a responder runs to put the database back as it was before this deploy."""
    if not backup_id:
        return None
    return f"pgwarden restore --backup-id {backup_id} --confirm {dbname}"


def _tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    text = redact(text or "")
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


# --- preconditions ----------------------------------------------------------------------------


def configured_commands(settings: Settings, tool: MigrationTool) -> dict[str, str | None]:
    """Every shell command a deploy would run, keyed by where it is configured."""
    hooks = settings.deploy.hooks
    command = settings.migrations.command or tool.command()
    return {
        "migrations.command" if settings.migrations.command else f"the {tool.name} command": command,
        "deploy.hooks.pre": hooks.pre,
        "deploy.hooks.post": hooks.post,
        "deploy.hooks.on_failure": hooks.on_failure,
    }


def refuse_forbidden_commands(settings: Settings, tool: MigrationTool, environment: str | None) -> Check:
    """In a protected environment, refuse any configured command that destroys data."""
    protected = is_protected(environment, settings.deploy.protected_environments)
    uses = find_forbidden(configured_commands(settings, tool))
    if not uses:
        return Check("no destructive command configured", True, "")
    listing = "; ".join(use.message() for use in uses)
    if protected:
        raise SafetyRefusal(
            f"refusing to deploy to the protected environment {environment!r}: {listing}",
            hint="use the tool's non-destructive deploy command (prisma migrate deploy, artisan migrate "
            "--force, alembic upgrade head); deploy.protected_environments lists the protected names",
        )
    return Check("no destructive command configured", False,
                 f"allowed outside protected environments: {listing}", warning=True)


@dataclass(frozen=True)
class BackupChoice:
    backup_id: str | None
    description: str
    manifest: Any = None


def require_backup(
    settings: Settings, target: DatabaseTarget, backup_id: str | None, no_backup_reason: str | None
) -> BackupChoice:
    """The verified backup of this database this deploy can be restored from, or a refusal."""
    if no_backup_reason is not None:
        if not no_backup_reason.strip():
            raise ConfigError("--no-backup needs --reason TEXT saying why deploying without a backup is acceptable")
        return BackupChoice(None, f"no backup: {no_backup_reason.strip()}")
    from pgwarden.stores import open_store

    store = open_store(settings.backup.store, settings)
    max_age = settings.backup.max_age
    if backup_id:
        try:
            manifest = store.get_manifest(backup_id)
        except OperationFailed as exc:
            raise SafetyRefusal(f"no verified backup to deploy with: {exc.message}", hint=exc.hint) from None
    else:
        candidates = [m for m in store.list_manifests() if m.verified and m.database == target.dbname]
        if not candidates:
            raise SafetyRefusal(
                f"no verified backup of {target.dbname} in {store.uri}",
                hint="run `pgwarden backup` first and pass --backup-id, or deploy with --no-backup --reason TEXT",
            )
        manifest = candidates[0]
    if manifest.database != target.dbname:
        raise SafetyRefusal(
            f"backup {manifest.id} is of database {manifest.database!r}, not of {target.dbname!r}",
            hint="take a backup of the database you deploy to",
        )
    if not manifest.verified:
        raise SafetyRefusal(
            f"backup {manifest.id} is not verified ({manifest.verification or 'verification did not pass'})",
            hint="take a new backup; deploy only trusts a backup whose archive and checksums were verified",
        )
    age = manifest.age_s()
    if age > max_age:
        raise SafetyRefusal(
            f"backup {manifest.id} is {format_duration(age)} old, older than backup.max_age "
            f"{format_duration(max_age)}: it would lose everything written since",
            hint="take a fresh backup for this deploy",
        )
    return BackupChoice(manifest.id, f"{manifest.id} ({format_duration(age)} old, verified)", manifest)


def failed_migrations(tool: MigrationTool, conn: psycopg.Connection[Any]) -> list[Migration]:
    """Migrations the tool's history records as started but not finished (nor rolled back)."""
    failed = getattr(tool, "failed", None)
    if callable(failed):
        return list(failed(conn))
    return [m for m in tool.migrations(conn) if m.status is MigrationStatus.FAILED]


def refuse_failed_state(tool: MigrationTool, conn: psycopg.Connection[Any], allow: bool) -> Check:
    failed = failed_migrations(tool, conn)
    if not failed:
        return Check("no failed migration in the history", True, "")
    names = ", ".join(m.name for m in failed)
    if allow:
        return Check("no failed migration in the history", False,
                     f"{names} (continuing: --allow-failed-state)", warning=True)
    hint_of = getattr(tool, "resolve_hint", None)
    hint = hint_of(failed[0].name) if callable(hint_of) else None
    raise SafetyRefusal(
        f"the {tool.name} history records a failed migration: {names}; its changes may be half applied",
        hint=(hint + "; " if hint else "") + "or pass --allow-failed-state once you know the state is sound",
    )


# --- hooks ------------------------------------------------------------------------------------


@dataclass
class HookRun:
    stage: str
    command: str
    exit_code: int | None
    output: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "command": redact(self.command), "exit_code": self.exit_code,
                "ok": self.ok, "duration_s": round(self.duration_s, 3), "output": self.output}


def run_hook(stage: str, command: str, settings: Settings, extra_env: dict[str, str]) -> HookRun:
    """Run one hook through the shell in the config's folder; output captured and redacted."""
    started = time.monotonic()
    env = {**os.environ, **extra_env}
    try:
        done = subprocess.run(  # noqa: S602 - hooks are shell commands by design (pgwarden.yml)
            command, shell=True, cwd=settings.base_dir, env=env, capture_output=True, text=True,
            timeout=HOOK_TIMEOUT_S, check=False,
        )
        code: int | None = done.returncode
        output = (done.stdout or "") + (done.stderr or "")
    except subprocess.TimeoutExpired as exc:
        code = None
        output = f"{exc.output or ''}\n[timed out after {format_duration(HOOK_TIMEOUT_S)}]"
    except OSError as exc:
        code = None
        output = f"could not start the hook: {exc.strerror}"
    return HookRun(stage, command, code, _tail(str(output), 4000), time.monotonic() - started)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class _Run:
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

    def step(self, action: str, outcome: str, started: float, **fields: Any) -> None:
        self.audit.write(action, outcome, duration_s=time.monotonic() - started, **fields)

    def hook_env(self) -> dict[str, str]:
        return {
            "PGWARDEN_RUN_ID": self.run_id,
            "PGWARDEN_ENVIRONMENT": self.environment or "",
            "PGWARDEN_DATABASE": self.target.dbname,
            "PGWARDEN_BACKUP_ID": (self.backup.backup_id or "") if self.backup else "",
        }

    def hook(self, stage: str, command: str | None) -> HookRun | None:
        if not command:
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
) -> StepResult:
    """Deploy pending migrations; see the module docstring for the steps.

    Raises :class:`SafetyRefusal` (exit 4) when a precondition fails (nothing ran) and
    :class:`ConfigError` for bad usage. Returns ``ok=False`` when a migration or hook failed.
    """
    say = progress or _noop
    tool = get_tool(settings)
    run_id = run_id or new_run_id()
    env_name = resolve_environment(environment, settings.environment)
    audit = AuditLog(
        path=settings.resolve_path(settings.deploy.audit_log),
        actor=current_actor(),
        environment=env_name,
        git_sha=current_git_sha(settings.base_dir),
        run_id=run_id,
        database=target.dbname,
    )
    run = _Run(settings, target, tool, audit, say, run_id, env_name,
               dt.datetime.now(dt.timezone.utc), time.monotonic())
    say(f"deploying to {target.display()} (environment: {env_name or 'unnamed'}, tool: {tool.name}, run {run_id})")

    lock: DeployLock | None = None
    started = time.monotonic()
    try:
        run.checks.append(refuse_forbidden_commands(settings, tool, env_name))
        run.backup = require_backup(settings, target, backup_id, no_backup_reason)
        run.checks.append(Check("verified backup", run.backup.backup_id is not None, run.backup.description,
                                warning=run.backup.backup_id is None))
        say(f"backup: {run.backup.description}")
        lock = DeployLock(target, wait_s=settings.deploy.lock_wait)
        lock.acquire()
        run.checks.append(Check("deploy lock", True, f"advisory lock {lock.key} held"))
        with connection(target) as conn:
            run.checks.append(refuse_failed_state(tool, conn, allow_failed_state))
            pending = tool.pending(conn)
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


def _deploy_locked(run: _Run, pending: list[Migration]) -> StepResult:
    settings, target, say = run.settings, run.target, run.say
    run.pending = [m.name for m in pending]
    if not pending:
        say("nothing to deploy: every migration is applied")
        return _finish(run, ok=True, summary="nothing to deploy: every migration is applied")
    say(f"{len(pending)} pending: {', '.join(run.pending)}")
    _preflight(run, pending)

    try:
        pre = run.hook("pre", settings.deploy.hooks.pre)
        if pre is not None and not pre.ok:
            run.error = f"the pre hook failed (exit {pre.exit_code}); no migration was run"
            return _fail(run)
        result = _apply_with_retries(run)
        if not result.ok:
            return _fail(run)
        post = run.hook("post", settings.deploy.hooks.post)
        if post is not None and not post.ok:
            run.error = f"migrations applied, but the post hook failed (exit {post.exit_code})"
            return _fail(run)
    except BaseException as exc:
        # Whatever happened (a bug, Ctrl-C), on_failure still runs: it usually ends maintenance mode.
        run.error = redact(str(exc)) or type(exc).__name__
        _fail(run)
        raise
    applied = ", ".join(run.applied) or "nothing"
    wait = f"; others waited at most {run.max_wait_s:.2f}s on the migration"
    return _finish(run, ok=True, summary=f"applied {len(run.applied)} migration(s) to {target.dbname}: {applied}{wait}")


def _preflight(run: _Run, pending: list[Migration]) -> None:
    """Report (and optionally wait for) sessions the migrations would queue behind."""
    started = time.monotonic()
    tables: set[QualifiedName] | None = set()
    for m in pending:
        touched = tables_touched(m.sql) if m.sql else None
        if touched is None:
            tables = None
            break
        assert tables is not None
        tables |= touched
    wait_s = run.settings.deploy.preflight_wait
    deadline = time.monotonic() + wait_s
    with connection(run.target) as conn:
        blockers = find_blocking_sessions(conn, tables, min_xact_age_s=LONG_TRANSACTION_S)
        if blockers:
            for b in blockers:
                run.say(f"pre-flight: {b.describe()}")
            if wait_s > 0:
                run.say(f"pre-flight: waiting up to {format_duration(wait_s)} for them to finish")
                while blockers and time.monotonic() < deadline:
                    time.sleep(0.25)
                    blockers = find_blocking_sessions(conn, tables, min_xact_age_s=LONG_TRANSACTION_S)
    run.preflight = blockers
    scope = "every table" if tables is None else (", ".join(sorted(t.display for t in tables)) or "no table")
    detail = "; ".join(b.describe() for b in blockers) if blockers else f"none holding locks on {scope}"
    run.checks.append(Check("no session holding locks the migrations need", not blockers, detail, warning=True))
    run.step("preflight", "clear" if not blockers else "blockers", started,
             tables=None if tables is None else sorted(t.display for t in tables),
             blockers=[b.to_json() for b in blockers])


def _apply_with_retries(run: _Run) -> ApplyResult:
    settings = run.settings.deploy
    limits = SessionLimits(lock_timeout_s=settings.lock_timeout, statement_timeout_s=settings.statement_timeout)
    attempts = settings.retries + 1
    result = ApplyResult()
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        run.say(f"applying (attempt {attempt} of {attempts}; lock_timeout {format_duration(limits.lock_timeout_s)}, "
                f"max_blocking {format_duration(settings.max_blocking)})")
        watchdog = LockWatchdog(run.target, max_blocking_s=settings.max_blocking, on_event=run.say)
        with watchdog:
            try:
                result = run.tool.apply(run.target, limits, run_id=run.run_id)
            except PgwardenError as exc:
                result = ApplyResult(error=redact(str(exc)))
        report = watchdog.report
        run.applied.extend(n for n in result.applied if n not in run.applied)
        run.max_wait_s = max(run.max_wait_s, report.max_wait_s)
        retryable = not result.ok and (result.lock_timeout_hit or report.cancelled)
        outcome = "succeeded" if result.ok else ("lock-timeout" if result.lock_timeout_hit else
                                                 "cancelled-by-watchdog" if report.cancelled else "failed")
        run.attempts.append({"attempt": attempt, "outcome": outcome, "applied": result.applied,
                             "failed": result.failed, "error": result.error,
                             "duration_s": round(time.monotonic() - started, 3), "watchdog": report.to_json()})
        run.step("migrate", outcome, started, attempt=attempt, applied=result.applied, failed=result.failed,
                 error=result.error, max_wait_s=round(report.max_wait_s, 3), watchdog=report.to_json(),
                 output=_tail(result.output, 4000))
        if result.ok:
            return result
        run.failed_migration = result.failed
        run.error = result.error
        if report.cancelled and report.cancel_reason:
            run.error = f"cancelled by the lock watchdog: {report.cancel_reason} ({result.error})"
        run.output = _tail(result.output)
        if not retryable:
            return result
        if attempt == attempts:
            run.error = (f"gave up after {attempts} attempt(s): the migration could not get its locks without "
                         f"blocking other sessions; last: {run.error}")
            return result
        delay = settings.retry_backoff * (2 ** (attempt - 1))
        run.say(f"{outcome} on {result.failed or 'the migration'}; retrying in at most {format_duration(delay)}")
        _wait_before_retry(run, report, delay)
    return result


def _wait_before_retry(run: _Run, report: WatchdogReport, delay: float) -> None:
    """Sleep ``delay``, but retry as soon as the transactions the migration queued behind end."""
    deadline = time.monotonic() + delay
    if not report.migration_blockers:
        time.sleep(delay)
        return
    for description in report.blocker_descriptions.values():
        run.say(f"waiting for {description}")
    try:
        with connection(run.target) as conn:
            while time.monotonic() < deadline:
                if not transactions_alive(conn, report.migration_blockers):
                    run.say("the blocking transactions ended; retrying now")
                    return
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    except (OperationFailed, psycopg.Error):
        time.sleep(max(0.0, deadline - time.monotonic()))


def _fail(run: _Run) -> StepResult:
    """Run on_failure, then build the failure result (with the history and restore command)."""
    run.hook("on_failure", run.settings.deploy.hooks.on_failure)
    command = restore_command(run.backup.backup_id if run.backup else None, run.target.dbname)
    what = f"migration {run.failed_migration} failed" if run.failed_migration else "deploy failed"
    summary = f"{what}: {run.error or 'unknown error'}"
    if command:
        summary += f". To restore the backup taken for this deploy: {command}"
    else:
        summary += ". No backup was taken for this deploy (--no-backup): restore from your own backups"
    return _finish(run, ok=False, summary=summary, restore=command)


def _finish(run: _Run, *, ok: bool, summary: str, restore: str | None = None) -> StepResult:
    """Record the deploy (history table + audit line) and build the StepResult."""
    duration = time.monotonic() - run.started
    history: list[dict[str, Any]] = []
    outcome = "succeeded" if ok else "failed"
    backup_id = run.backup.backup_id if run.backup else None
    no_backup_reason = None
    if run.backup is not None and run.backup.backup_id is None:
        no_backup_reason = run.backup.description.removeprefix("no backup: ")
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
        "error": redact(run.error) if run.error else None,
        "output": run.output,
        "restore_command": restore if not ok else restore_command(backup_id, run.target.dbname),
        "max_wait_s": round(run.max_wait_s, 3),
        "attempts": run.attempts,
        "preflight_blockers": [b.to_json() for b in run.preflight],
        "hooks": [h.to_json() for h in run.hooks],
        "audit_log": str(run.audit.path),
    }
    try:
        with connect(run.target) as conn:
            if not ok:
                history = _jsonable(run.tool.history_state(conn))
            record_deploy(conn, DeployRecord(
                run_id=run.run_id, started_at=run.started_at, actor=run.audit.actor, environment=run.environment,
                git_sha=run.audit.git_sha, tool=run.tool.name, migrations_applied=run.applied,
                backup_id=backup_id, no_backup_reason=no_backup_reason, outcome=outcome,
                failed_migration=run.failed_migration, error=run.error, max_wait_s=run.max_wait_s,
                details={"attempts": len(run.attempts), "hooks": [h.stage for h in run.hooks],
                         "tables_with_pk": run.tables_with_pk},
            ))
    except (PgwardenError, psycopg.Error) as exc:
        details["history_error"] = redact(str(exc))
        run.say(f"could not record the deploy in pgwarden_history: {details['history_error']}")
    details["history"] = history
    run.audit.write("deploy", outcome, duration_s=duration, applied=run.applied, backup_id=backup_id,
                    no_backup_reason=no_backup_reason, failed_migration=run.failed_migration, error=run.error,
                    max_wait_s=round(run.max_wait_s, 3), restore_command=details["restore_command"])
    run.say(summary)
    checks = [Check(c.name, c.ok, redact(c.detail), c.warning) for c in run.checks]
    return StepResult("deploy", ok, redact(summary), duration, checks, _jsonable(details))
