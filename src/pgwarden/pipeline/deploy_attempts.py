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
from pgwarden.pg.watchdog import LockWatchdog, WatchdogReport
from pgwarden.pipeline.deploy_hooks import STEP_OUTPUT_LIMIT, tail_output
from pgwarden.pipeline.deploy_run import DeployRun
from pgwarden.redact import redact
from pgwarden.tools.base import ApplyResult, SessionLimits

#: Attempt outcomes worth retrying: the migration gave way to others, nothing of it failed.
RETRYABLE = frozenset({"lock-timeout", "cancelled-by-watchdog"})


def attempt_outcome(result: ApplyResult, cancelled_by_watchdog: bool) -> str:
    """``succeeded``, ``lock-timeout``, ``cancelled-by-watchdog`` or ``failed`` (as the audit log says)."""
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
    """Apply the pending migrations, retrying as :func:`decide_retry` says; the last attempt's result."""
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
        outcome = attempt_outcome(result, report.cancelled)
        run.attempts.append({"attempt": attempt, "outcome": outcome, "applied": result.applied,
                             "failed": result.failed, "error": result.error,
                             "duration_s": round(time.monotonic() - started, 3), "watchdog": report.to_json()})
        run.step("migrate", outcome, started, attempt=attempt, applied=result.applied, failed=result.failed,
                 error=result.error, max_wait_s=round(report.max_wait_s, 3), watchdog=report.to_json(),
                 output=tail_output(result.output, STEP_OUTPUT_LIMIT))
        decision = decide_retry(outcome, attempt, attempts, settings.retry_backoff)
        if result.ok:
            return result
        run.failed_migration = result.failed
        run.error = result.error
        if report.cancelled and report.cancel_reason:
            run.error = f"cancelled by the lock watchdog: {report.cancel_reason} ({result.error})"
        run.output = tail_output(result.output)
        if decision.gave_up:
            run.error = (f"{decision.why}: the migration could not get its locks without "
                         f"blocking other sessions; last: {run.error}")
        if not decision.retry:
            return result
        run.say(f"{outcome} on {result.failed or 'the migration'}; retrying in at most "
                f"{format_duration(decision.wait_s)}")
        wait_before_retry(run, report, decision.wait_s)
    return result


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
