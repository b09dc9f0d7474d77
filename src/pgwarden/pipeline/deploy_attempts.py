"""The migration attempts: run the tool under the session limits with the lock watchdog, retry on lock trouble.

A lock timeout, or a cancel by the watchdog, means the migration could not get its locks without
holding others up; nothing was applied by the statement that gave up, so it is retried with
exponential backoff up to ``deploy.retries``. Whether and when to retry is the pure
:func:`decide_retry`; a retry starts early once the transactions it queued behind are gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from pgwarden.durations import format_duration
from pgwarden.errors import OperationFailed, PgwardenError
from pgwarden.pg.blockers import transactions_alive
from pgwarden.pg.connection import connection
from pgwarden.pg.unfinished import write_started
from pgwarden.pg.watchdog import LockWatchdog, WatchdogReport
from pgwarden.pipeline.deploy_hooks import STEP_OUTPUT_LIMIT, tail_output
from pgwarden.pipeline.deploy_lockwatch import LockWatch
from pgwarden.pipeline.deploy_run import DeployRun
from pgwarden.pipeline.unfinished import AttemptEnd, Unfinished, resolve_command, settle_attempt
from pgwarden.redact import redact
from pgwarden.tools.base import ApplyResult, SessionLimits

#: Attempt outcomes worth retrying: the migration gave way to others, nothing of it failed.
RETRYABLE = frozenset({"lock-timeout", "cancelled-by-watchdog"})


#: The message of a deploy that lost its lock (the result's error starts with it).
LOCK_LOST = "the deploy lock was lost (its session ended)"


def attempt_outcome(result: ApplyResult, cancelled_by_watchdog: bool, *, lock_lost: bool = False,
                    unknown: bool = False) -> str:
    """``succeeded``, ``lock-timeout``, ``cancelled-by-watchdog``, ``failed``, ``unfinished`` (a
    migration may be partly applied) or ``lock-lost`` (as the audit log says)."""
    if lock_lost:
        return "lock-lost"
    if unknown:
        return "unfinished"
    if result.ok:
        return "succeeded"
    if result.lock_timeout_hit:
        return "lock-timeout"
    return "cancelled-by-watchdog" if cancelled_by_watchdog else "failed"


@dataclass(frozen=True)
class RetryDecision:
    """After one attempt: try again (after at most ``wait_s``), or stop, and why."""

    retry: bool
    why: str
    wait_s: float = 0.0
    #: The attempts stop because every one was used up (not because one succeeded or truly failed).
    gave_up: bool = False


def decide_retry(outcome: str, attempt: int, attempts: int, backoff_s: float) -> RetryDecision:
    """Retry a lock problem while attempts remain, waiting ``backoff_s`` doubled after each attempt.

    ``attempt`` counts from 1; ``attempts`` is ``deploy.retries + 1``.
    """
    if outcome == "succeeded":
        return RetryDecision(False, "succeeded")
    if outcome not in RETRYABLE:
        return RetryDecision(False, f"{outcome}: not a lock problem, a retry would fail the same way")
    if attempt >= attempts:
        return RetryDecision(False, f"gave up after {attempts} attempt(s)", gave_up=True)
    return RetryDecision(True, f"{outcome}: attempt {attempt + 1} of {attempts} follows",
                         wait_s=backoff_s * (2 ** (attempt - 1)))


def apply_with_retries(run: DeployRun) -> ApplyResult:
    """Apply the pending migrations, retrying as :func:`decide_retry` says; the last attempt's result.

    Before each attempt the lock must still be held and the migrations it hands to the tool are
    recorded as started (:mod:`pgwarden.pipeline.unfinished`); after it, what did not finish is
    settled, and a migration that may be partly applied stops the deploy (no retry).
    """
    settings = run.settings.deploy
    token = run.lock.token if run.lock is not None and run.tool.holds_deploy_lock else None
    limits = SessionLimits(lock_timeout_s=settings.lock_timeout, statement_timeout_s=settings.statement_timeout,
                           deploy_lock=token)
    attempts = settings.retries + 1
    result = ApplyResult()
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        if not run.lock_alive():
            return _lock_lost(run, result, f"before attempt {attempt}")
        run.say(f"applying (attempt {attempt} of {attempts}; lock_timeout {format_duration(limits.lock_timeout_s)}, "
                f"max_blocking {format_duration(settings.max_blocking)})")
        _record_started(run)
        watchdog = LockWatchdog(run.target, max_blocking_s=settings.max_blocking, on_event=run.say)
        with LockWatch(run.lock, run.target, stop_tool=not run.tool.holds_deploy_lock, say=run.say) as watch, \
                watchdog:
            try:
                result = run.tool.apply(run.target, limits, run_id=run.run_id)
            except PgwardenError as exc:
                result = ApplyResult(error=redact(str(exc)))
        lost = watch.lost or not run.lock_alive()
        run.lock_lost = lost
        unknown = _settle(run, result)
        report = watchdog.report
        run.applied.extend(n for n in result.applied if n not in run.applied)
        run.max_wait_s = max(run.max_wait_s, report.max_wait_s)
        outcome = attempt_outcome(result, report.cancelled, lock_lost=lost, unknown=bool(unknown))
        run.attempts.append({"attempt": attempt, "outcome": outcome, "applied": result.applied,
                             "failed": result.failed, "error": result.error, "sqlstate": result.sqlstate,
                             "unknown": [u.migration for u in unknown],
                             "duration_s": round(time.monotonic() - started, 3), "watchdog": report.to_json()})
        run.step("migrate", outcome, started, attempt=attempt, applied=result.applied, failed=result.failed,
                 error=result.error, unknown=[u.to_json() for u in unknown], max_wait_s=round(report.max_wait_s, 3),
                 watchdog=report.to_json(), output=tail_output(result.output, STEP_OUTPUT_LIMIT))
        decision = decide_retry(outcome, attempt, attempts, settings.retry_backoff)
        if result.ok and not lost:
            return result
        run.failed_migration = result.failed
        run.error = result.error
        if report.cancelled and report.cancel_reason:
            run.error = f"cancelled by the lock watchdog: {report.cancel_reason} ({result.error})"
        run.output = tail_output(result.output)
        if unknown:
            run.unknown = [u.migration for u in unknown]
            first = unknown[0]
            run.error = (f"{first.migration} did not finish and may be partly applied ({first.why}); nothing more "
                         f"was run. Check what of it is in the database, finish or undo it, then record what you "
                         f"found: {resolve_command(first.migration)}")
        if lost:
            return _lock_lost(run, result, "during the migration")
        if decision.gave_up:
            run.error = (f"{decision.why}: the migration could not get its locks without "
                         f"blocking other sessions; last: {run.error}")
        if not decision.retry:
            return result
        run.say(f"{outcome} on {result.failed or 'the migration'}; retrying in at most "
                f"{format_duration(decision.wait_s)}")
        wait_before_retry(run, report, decision.wait_s)
    return result


def _lock_lost(run: DeployRun, result: ApplyResult, when: str) -> ApplyResult:
    """Stop: another deploy may hold the lock now; say what this one applied."""
    run.lock_lost = True
    done = ", ".join(run.applied) or "nothing"
    note = f"; {run.error}" if run.error else ""
    run.error = (f"{LOCK_LOST} {when}: stopped, nothing more is started (applied by this deploy: {done}){note}")
    if result.ok:
        result = ApplyResult(applied=result.applied, output=result.output, error=run.error)
    return result


def _record_started(run: DeployRun) -> None:
    """The migrations this attempt hands to the tool, recorded before it runs (a kill leaves them)."""
    handed = [m for m in run.pending_migrations if m.name not in run.applied]
    try:
        with connection(run.target) as conn:
            write_started(conn, run.tool.name, run.run_id, handed)
    except (OperationFailed, psycopg.Error) as exc:
        raise OperationFailed(f"could not record the migrations about to run: {redact(str(exc))}",
                              hint="nothing was run; check the connection and deploy again") from None


def _settle(run: DeployRun, result: ApplyResult) -> list[Unfinished]:
    """Settle this run's started rows after an attempt; the migrations that may be partly applied."""
    attempt = AttemptEnd(failed=result.failed, untouched=result.untouched, error=result.error)
    try:
        with connection(run.target) as conn:
            return settle_attempt(run.tool, conn, run.run_id, attempt)
    except (PgwardenError, psycopg.Error) as exc:
        # The rows stay "started": the next deploy settles them from the tool's history.
        run.say(f"could not settle the migrations of this attempt: {redact(str(exc))}")
        return []


def wait_before_retry(run: DeployRun, report: WatchdogReport, delay: float) -> None:
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
