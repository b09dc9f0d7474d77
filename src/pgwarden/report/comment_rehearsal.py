"""The rehearsal in the PR comment and the step summary: which rehearsals the run has, whether they block, the lines.

Pure: the run's records in, markdown out. A run's rehearsals are each target's ``rehearse.json``
(the workflow's rehearse job, before the approval), one next to ``plan.json``, or the plan's own
(``plan --rehearsal``). The comment judges a target's rehearsal with the rule modules, as
``plan --rehearsal`` would (rehearsal-failed critical, rehearsal-long-lock high past
``rehearsal.max_lock``, less what a reasoned ``risk.ignore`` waives), against the plan's
``fail_on``: a finding at or above it, or a rehearsal
that did not complete, blocks the approval (the ``rehearsal-blocked`` state). The plan's own
rehearsal was judged by the plan already: its findings are in the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pgwarden.config import IgnoreEntry
from pgwarden.records import Finding, StepResult, is_blocked
from pgwarden.rehearsal import RehearsalReport
from pgwarden.report.comment_run import reason
from pgwarden.report.format import cell
from pgwarden.report.rehearsal import headline, table
from pgwarden.report.results import RunResults
from pgwarden.risk.rules import rehearsal_failed, rehearsal_long_lock
from pgwarden.risk.waivers import apply_ignores


@dataclass(frozen=True)
class Rehearsed:
    """One rehearsal of the run, or a rehearse step that failed without a report (``report`` None)."""

    target: str | None
    report: RehearsalReport | None
    failure: StepResult | None = None
    #: From ``plan --rehearsal``: judged by the plan, its findings are the plan's.
    from_plan: bool = False


def rehearsals(results: RunResults, outcomes: dict[str, str] | None = None) -> list[Rehearsed]:
    """Every rehearsal the run's results hold, in target order; ``outcomes`` are the run's (``--outcome``)."""
    found: list[Rehearsed] = []
    for t in results.targets:
        if t.rehearsal is not None:
            found.append(Rehearsed(t.name, t.rehearsal))
        elif t.outcome("rehearse") == "failure":
            found.append(Rehearsed(t.name, None, t.steps.get("rehearse")))
    if results.rehearsal is not None:
        found.append(Rehearsed(None, results.rehearsal))
    if not found and (outcomes or {}).get("rehearse") == "failure":
        found.append(Rehearsed(None, None))
    if not found and results.plan is not None and results.plan.rehearsal is not None:
        found.append(Rehearsed(None, results.plan.rehearsal, from_plan=True))
    return found


def max_lock_of(results: RunResults, configured: float) -> float:
    """The threshold: the plan's when it judged a rehearsal, else the configured ``rehearsal.max_lock``."""
    plan = results.plan
    return plan.rehearsal_max_lock_s if plan is not None and plan.rehearsal_max_lock_s is not None else configured


def _new(results: RunResults) -> set[str]:
    return rehearsal_long_lock.new_tables(results.plan.pending) if results.plan is not None else set()


def findings(entry: Rehearsed, results: RunResults, max_lock_s: float,
             ignores: Sequence[IgnoreEntry] = ()) -> list[Finding]:
    """What the rule modules make of one target's rehearsal, less what a reasoned ``risk.ignore``
    waives ([] for the plan's own: the plan has them)."""
    if entry.report is None or entry.from_plan:
        return []
    migrations = results.plan.migrations if results.plan is not None else []
    found = [*rehearsal_failed.findings(entry.report, migrations),
             *rehearsal_long_lock.findings(entry.report, max_lock_s, migrations, new=_new(results))]
    return apply_ignores(found, ignores)[0]


def blocking(entries: Sequence[Rehearsed], results: RunResults, max_lock_s: float,
             ignores: Sequence[IgnoreEntry] = ()) -> tuple[int, int]:
    """(findings at or above the plan's fail_on, rehearsals that did not complete)."""
    fail_on = results.plan.fail_on if results.plan is not None else "high"
    n = 0
    for entry in entries:
        found = findings(entry, results, max_lock_s, ignores)
        if is_blocked(found, fail_on):
            n += len([f for f in found if is_blocked([f], fail_on)])
    return n, sum(1 for e in entries if e.report is None)


def judge(results: RunResults, outcomes: dict[str, str], configured_max_lock_s: float,
          ignores: Sequence[IgnoreEntry] = ()) -> tuple[int, int]:
    """The run's rehearsals judged: (blocking findings, rehearsals that did not complete)."""
    return blocking(rehearsals(results, outcomes), results, max_lock_of(results, configured_max_lock_s), ignores)


def blocked_sentence(found: int, fail_on: str) -> str:
    """The verdict of the ``rehearsal-blocked`` state."""
    why = (f"{found} measured finding{'s' if found != 1 else ''} at or above {fail_on} (below)" if found
           else "the rehearsal did not complete, so nothing was measured")
    return (f"Blocked by the rehearsal on a copy of production: {why}. Nothing was deployed: fix the migrations "
            "and push, or rehearse again.")


def section(results: RunResults, outcomes: dict[str, str], configured_max_lock_s: float,
            now: datetime | None = None) -> list[str]:
    """The headlines and tables of the run's rehearsals, without trailing blank lines ([] without one)."""
    entries = rehearsals(results, outcomes)
    found = lines(entries, results, max_lock_of(results, configured_max_lock_s), now=now) if entries else []
    while found and not found[-1]:
        found.pop()
    return found


def evidence(entries: Sequence[Rehearsed]) -> str | None:
    """The runbook's "dry run on a staging environment", when every rehearsal applied every migration."""
    reports = [e.report for e in entries if e.report is not None]
    if not reports or len(reports) < len(entries) or not all(r.ok for r in reports):
        return None
    return "rehearsed on a copy of production: " + ", ".join(
        f"{len(r.migrations)} applied (backup {r.backup_id})" for r in reports)


def lines(entries: Sequence[Rehearsed], results: RunResults, max_lock_s: float, *,
          now: datetime | None = None) -> list[str]:
    """The headline of each rehearsal (under the verdict), then each one's table, collapsed."""
    fleet = len({e.target for e in entries}) > 1 or len(results.targets) > 1
    new = _new(results)
    heads: list[str] = []
    tables: list[str] = []
    for e in entries:
        who = f"**{cell(e.target)}**: " if fleet and e.target else ""
        if e.report is None:
            why = reason(e.failure) if e.failure is not None else "see the job log."
            heads.append(f"{who}❌ **The rehearsal did not complete**, nothing was measured: {why}")
            continue
        heads.append(who + headline(e.report, max_lock_s, new, now=now))
        tables += table(e.report, max_lock_s, new, label=f"{e.target}: " if fleet and e.target else "")
    out: list[str] = []
    for head in heads:
        out += [head, ""]
    return out + tables
