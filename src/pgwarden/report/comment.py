"""The pipeline report shown in the PR comment and the step summary (pure: records in, markdown out).

:func:`render_report` turns a run's results (read by :mod:`pgwarden.report.results`) into one
markdown document a release manager can approve from. The verdict comes first, in one of these
states: ``blocked``, ``awaiting-approval`` (plan stage), ``nothing-pending``, ``deployed`` or
``failed`` (final stage), plus ``plan-failed``, ``not-approved`` and ``did-not-run``. Then the basis
(did the review see live data?), the commit, who approved, on failure the real error with what
changed and the next step, each migration with its SQL and findings (:mod:`pgwarden.report.markdown`),
the backup, the checks and the restore command. The runbook checklist is in the final comment
only, collapsed. It fits in a PR comment (65,536 characters): the SQL is shortened first, then the
lowest findings are dropped.

:func:`render_summary` is the same run for the step summary, without what the steps' own
summaries already show (the plan's findings, the backup table, the checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pgwarden.config import IgnoreEntry
from pgwarden.records import PlanReport
from pgwarden.report import comment_rehearsal as rehearsal
from pgwarden.report import comment_run as run
from pgwarden.report.checklist import render_checklists
from pgwarden.report.comment_run import STEPS, applied_names, reason, restore_command
from pgwarden.report.findings import verdict as plan_verdict
from pgwarden.report.format import cell, code, outcome_icon
from pgwarden.report.markdown import PlanView, basis_lines, fit, plan_body
from pgwarden.report.rehearsal import DEFAULT_MAX_LOCK_S
from pgwarden.report.results import RunResults, TargetResults

COMMENT_LIMIT = 65_536
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
SUMMARY_LIMIT = 1024 * 1024
#: The state's icon and its name in the heading.
STATES = {
    "blocked": ("⛔", "Blocked"),
    "rehearsal-blocked": ("⛔", "Blocked by the rehearsal"),
    "plan-failed": ("❌", "Plan failed"),
    "review-passed": ("✅", "Review passed"),
    "awaiting-approval": ("⏳", "Awaiting approval"),
    "nothing-pending": ("✅", "Nothing to deploy"),
    "not-approved": ("⛔", "Not approved"),
    "failed": ("❌", "Failed"),
    "did-not-run": ("⚠️", "Did not run"),
    "deployed": ("✅", "Deployed"),
    "incomplete": ("⚠️", "Incomplete"),
    "restored": ("✅", "Restored"),
    "restore-failed": ("❌", "Restore failed"),
}
#: The states in which nothing may be approved: the workflow stops on them (``report render``'s ``blocked`` output).
BLOCKED_STATES = ("blocked", "rehearsal-blocked")


def marker(workflow: str, environment: str) -> str:
    """The hidden line that identifies our comment for one workflow and environment."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in environment)
    return f"<!-- pgwarden:{workflow}:{safe} -->"


@dataclass
class RunInfo:
    """Where the report is and what it is about (from the GitHub context and the command line)."""

    workflow: str
    environment: str
    stage: str
    outcomes: dict[str, str] = field(default_factory=dict)
    run_url: str | None = None
    restore_workflow_url: str | None = None
    pull_request: str | None = None
    rto_s: float | None = None
    config: str | None = None
    #: The commit reviewed or deployed (the PR's head on pull_request events, else GITHUB_SHA).
    commit: str | None = None
    #: Why the restore was run (restore.yml's ``reason`` input).
    reason: str | None = None
    #: The GitHub event (``GITHUB_EVENT_NAME``): a pull request is reviewed, not deployed, unless the
    #: workflow says its migrate job runs too (``--outcome migrate=pending``).
    event: str = ""
    #: ``rehearsal.max_lock``: a rehearsal's lock held longer blocks (when the plan did not judge it).
    rehearsal_max_lock_s: float = DEFAULT_MAX_LOCK_S
    #: When the report is rendered: the rehearsal's backup age is said from it (else from the rehearsal).
    now: datetime | None = None
    #: ``risk.ignore``: a reasoned entry waives a rehearsal's finding as it waives the plan's.
    ignores: tuple[IgnoreEntry, ...] = ()

    @property
    def review_only(self) -> bool:
        return self.event in PULL_REQUEST_EVENTS and self.outcomes.get("migrate") != "pending"

    @property
    def named_environment(self) -> str:
        """The environment, or "" when none was named (never the placeholder ``default``)."""
        return "" if self.environment in ("", "default") else self.environment


def plan_blocked(plan: PlanReport | None) -> bool:
    return plan is not None and plan.blocked


def state(info: RunInfo, results: RunResults) -> str:
    """Which of :data:`STATES` the run is in."""
    if plan_blocked(results.plan):
        return "blocked"
    if results.plan is None and (info.outcomes.get("plan") == "failure" or results.plan_failure is not None):
        return "plan-failed"
    if info.workflow == "restore":
        t = results.targets[0] if results.targets else TargetResults("default")
        ok = t.outcome("restore") == "success" and t.outcome("verify") in ("success", "skipped")
        return "restored" if ok else "restore-failed"
    if _rehearsal_blocks(info, results):
        return "rehearsal-blocked"
    if any(t.outcome("approval") == "failure" for t in results.targets):
        return "not-approved"
    if any(t.outcome(s) == "failure" for t in results.targets for s in STEPS[1:]):
        return "failed"
    if results.plan is not None and not results.plan.pending and not results.targets:
        return "nothing-pending"
    if info.stage == "plan":
        return "review-passed" if info.review_only else "awaiting-approval"
    if info.outcomes.get("migrate", "") in ("cancelled", "skipped") or not results.targets:
        return "did-not-run"
    if all(t.outcome("deploy") == "success" and t.outcome("verify") == "success" for t in results.targets):
        return "deployed"
    return "incomplete"


def _rehearsal_blocks(info: RunInfo, results: RunResults) -> bool:
    """Before any deploy ran, a rehearsal blocks: a finding at the plan's fail_on, or it did not complete."""
    if any(t.outcome("deploy") not in ("skipped", "") for t in results.targets):
        return False
    return any(rehearsal.judge(results, info.outcomes, info.rehearsal_max_lock_s, info.ignores))


def verdict(info: RunInfo, results: RunResults) -> tuple[str, str]:
    """(icon, the first sentences) for the heading."""
    current = state(info, results)
    icon = STATES[current][0]
    env = code(info.named_environment) if info.named_environment else "the database"
    plan = results.plan
    review = f" {plan_verdict(plan)}" if plan is not None and (plan.findings or plan.waived) else ""
    if current == "blocked":
        return icon, "Blocked by the risk review: nothing was backed up or deployed." + review.replace(" Blocked:", "")
    if current == "rehearsal-blocked":
        found, _ = rehearsal.judge(results, info.outcomes, info.rehearsal_max_lock_s, info.ignores)
        return icon, rehearsal.blocked_sentence(found, plan.fail_on if plan is not None else "high")
    if current == "plan-failed":
        why = f": {reason(results.plan_failure)}" if results.plan_failure is not None else "."
        return icon, f"The plan step failed before it could review the migrations{why}"
    if current in ("restored", "restore-failed"):
        return icon, ("Restored and verified." if current == "restored"
                      else "The restore did not complete: see the steps below.")
    if current == "not-approved":
        t = next(t for t in results.targets if t.outcome("approval") == "failure")
        approval = t.steps.get("approval")
        why = reason(approval) if approval is not None and approval.summary else _approval_why(t)
        return icon, f"Not approved, nothing was backed up or deployed: {why}"
    if current == "failed":
        failed = [t for t in results.targets if any(t.outcome(s) == "failure" for s in STEPS[1:])]
        if len(results.targets) > 1:
            names = ", ".join(t.name for t in failed)
            return icon, f"Failed on {names}: see what went wrong, what changed and the next step below."
        return icon, f"The deploy to {env} failed: see what went wrong, what changed and the next step below."
    if current == "nothing-pending":
        return icon, "No pending migrations: nothing to review, back up or deploy." + review
    if current == "review-passed":
        n = len(plan.pending) if plan is not None else 0
        them = f"the {n} migration{'s' if n != 1 else ''} below"
        return icon, (f"Risk review passed. Merging deploys {them} to {env}: the migrate job then waits for the "
                      f"environment's approval and takes a verified backup first.{review}")
    if current == "awaiting-approval":
        n = len(plan.pending) if plan is not None else 0
        runs = f" Approving runs the {n} migration{'s' if n != 1 else ''} below after a verified backup."
        return icon, f"Risk review passed: waiting for approval of {env}.{runs}{review}"
    if current == "did-not-run":
        migrate = info.outcomes.get("migrate", "")
        return icon, f"The migrate job did not run ({migrate or 'no results'})."
    if current == "deployed":
        n = sum(len(applied_names(t.steps.get("deploy"))) for t in results.targets)
        return icon, f"Backed up, deployed and verified: {n} migration{'s' if n != 1 else ''} applied to {env}."
    return icon, "Finished with steps that did not complete: see below."


def _approval_why(target: TargetResults) -> str:
    a = target.approval
    if a is not None and a.checked and not a.required_reviewers:
        return f"{code(a.environment)} has no required reviewers"
    return "see the job log"


def _step_outcomes(info: RunInfo, results: RunResults) -> dict[str, str]:
    out: dict[str, str] = {}
    seen_plan = "success" if results.plan else ("failure" if results.plan_failure else "skipped")
    plan = info.outcomes.get("plan") or seen_plan
    out["plan"] = "blocked" if plan_blocked(results.plan) else plan
    if info.workflow == "restore":
        t = results.targets[0] if results.targets else TargetResults("default")
        return {"restore": t.outcome("restore"), "verify": t.outcome("verify")}
    entries = rehearsal.rehearsals(results, info.outcomes)
    if entries or "rehearse" in info.outcomes:
        seen = [("failure" if e.report is None or not e.report.ok else "success") for e in entries]
        out["rehearse"] = ("blocked" if _rehearsal_blocks(info, results) else
                           "failure" if "failure" in seen else (seen[0] if seen else info.outcomes["rehearse"]))
    if info.stage == "plan" and out["plan"] == "success":
        return {**out, "approval": "pending", **dict.fromkeys(STEPS[1:], "pending")}
    out["approval"] = _approval_outcome(results.targets)
    for step in STEPS[1:]:
        seen = [t.outcome(step) for t in results.targets]
        out[step] = "failure" if "failure" in seen else (seen[0] if seen else "skipped")
    return out


def _approval_outcome(targets: list[TargetResults]) -> str:
    """Approved only when someone was seen approving (never inferred from a backup having run)."""
    if any(t.outcome("approval") == "failure" for t in targets):
        return "failure"
    approvals = [t.approval for t in targets if t.approval is not None]
    if approvals:
        return "success" if all(a.approved_by for a in approvals) else "unknown"
    if any(t.steps.get("approval") is not None and t.steps["approval"].ok for t in targets):
        return "success"
    return "unknown" if any(t.outcome("backup") != "skipped" for t in targets) else "skipped"


def mermaid(info: RunInfo, results: RunResults) -> str:
    outcomes = _step_outcomes(info, results)
    nodes = [f'  {step}["{step} {outcome_icon(o)}"]' for step, o in outcomes.items()]
    chain = " --> ".join(outcomes)
    return "```mermaid\nflowchart LR\n" + "\n".join(nodes) + f"\n  {chain}\n```"


def meta_line(info: RunInfo) -> str:
    parts = []
    if info.commit:
        parts.append(f"commit {code(info.commit[:12])}")
    if info.pull_request:
        parts.append(cell(info.pull_request, run.SUMMARY_CHARS))
    if info.run_url:
        parts.append(f"[workflow run]({info.run_url})")
    return f"<sub>{' · '.join(parts)}</sub>" if parts else ""


def checklist_evidence(info: RunInfo, results: RunResults) -> dict[str, str]:
    """Which runbook checklist items this run really did, with the evidence (ids of report.checklist)."""
    o = _step_outcomes(info, results)
    done: dict[str, str] = {}
    if results.plan is not None and not plan_blocked(results.plan):
        live = "with live data" if results.plan.live else "without live data"
        done["review"] = f"risk review passed ({live})"
    if any(t.backup is not None and t.backup.verified for t in results.targets):
        done["backup-created"] = "verified: pg_restore --list and checksums"
        done["backup-confirmed"] = "before the deploy started"
    rehearsed = rehearsal.evidence(rehearsal.rehearsals(results, info.outcomes))
    if rehearsed:
        done["staging-run"] = rehearsed
    if any(restore_command(t, None) for t in results.targets):
        done["rollback-plan"] = "restore command in this comment"
    if o.get("deploy") == "success":
        done["locks-checked"] = "lock_timeout / statement_timeout and a deploy lock"
        done["migrate"] = "applied"
        done["error-log"] = "no errors from the migration tool"
    if o.get("verify") == "success":
        done["integrity"] = "verification checks passed"
        done["status"] = "migration history matches"
    if info.stage == "final" and results.targets:
        done["logs"] = "audit log in the run's artifacts"
        done["notify-done"] = "this comment"
    return done


def checklists(info: RunInfo, results: RunResults) -> list[str]:
    """The runbooks' checklists, ticked from what this run did: in the final comment only, collapsed."""
    if info.stage != "final" or info.workflow != "migrate" or not results.targets:
        return []
    return render_checklists(checklist_evidence(info, results)).splitlines()


def _statuses(results: RunResults) -> dict[str, str]:
    """What the deploy did with each migration (the final comment's migration headings)."""
    statuses: dict[str, str] = {}
    for t in results.targets:
        deploy = t.steps.get("deploy")
        if deploy is None:
            continue
        for name in deploy.details.get("pending") or []:
            statuses.setdefault(str(name), "not run")
        for name in applied_names(deploy):
            statuses[name] = "applied"
        failed = deploy.details.get("failed_migration")
        if failed:
            statuses[str(failed)] = "failed"
        for name in deploy.details.get("unfinished") or []:
            statuses[str(name)] = "unknown"
    return statuses


def render_report(
    info: RunInfo, results: RunResults, *, limit: int = COMMENT_LIMIT, full_link: str | None = None
) -> str:
    """The whole report; the SQL is shortened, then findings cut lowest severity first, to fit in ``limit``."""
    statuses = _statuses(results)
    n = len(results.plan.findings) if results.plan is not None else 0

    def render(view: PlanView) -> str:
        return _render(info, results, PlanView(view.keep, view.sql_chars, statuses, full_link), summary=False)

    text = fit(render, n, limit, full_link)
    if len(text) <= limit:
        return text
    cut = "\n\n_…report truncated; see the run's artifacts for the full report._\n"
    return text[: limit - len(cut)] + cut


def _rehearsal_lines(info: RunInfo, results: RunResults) -> list[str]:
    return rehearsal.section(results, info.outcomes, info.rehearsal_max_lock_s, info.now)


def render_summary(info: RunInfo, results: RunResults) -> str:
    """The run for the step summary: what the steps' own summaries do not already show.

    The plan step's summary has the review (basis, migrations, findings), the backup, deploy and
    verify steps' summaries have their tables: here only the verdict, the approval, a failure's
    cause with what changed and the next step, the timings and the restore command. At the plan stage that is
    nothing (a "waiting for approval" block would stay on the run's page after the deploy), but
    for a rehearsal: its headline and table.
    """
    current = state(info, results)
    if info.stage == "plan" and current not in ("plan-failed", "rehearsal-blocked"):
        measured = _rehearsal_lines(info, results) if info.workflow == "migrate" else []
        return "\n".join(["### pgwarden rehearsal", "", *measured]).rstrip() + "\n" if measured else ""
    return _render(info, results, PlanView(), summary=True)


def _render(info: RunInfo, results: RunResults, view: PlanView, *, summary: bool) -> str:
    icon, sentence = verdict(info, results)
    label = STATES[state(info, results)][1]
    title = {"migrate": "migrate", "restore": "restore", "drill": "restore drill"}.get(info.workflow, info.workflow)
    where = f" → {code(info.named_environment)}" if info.named_environment else ""
    lines = [marker(info.workflow, info.environment), f"## {icon} {label} · pgwarden {title}{where}", "", sentence]
    measured = _rehearsal_lines(info, results) if info.workflow == "migrate" else []
    lines += ["", *measured] if measured else []
    if results.plan is not None and info.workflow == "migrate":
        lines += ["", *basis_lines(results.plan)]
    if info.reason:
        lines += ["", f"**Reason:** {cell(info.reason, run.SUMMARY_CHARS)}"]
    meta = meta_line(info)
    lines += ["", meta] if meta else []
    if not summary:
        lines += ["", mermaid(info, results)]
    lines.append("")
    env = info.named_environment
    targets = results.targets
    sections: list[list[str]] = [run.approval_section(targets, env), run.failure_section(targets, env)]
    if info.workflow == "migrate" and not summary:
        if results.plan is not None:
            sections.append(["### Migrations", "", *plan_body(results.plan, view, basis=False)])
        elif results.plan_failure is not None:
            sections.append(["### Risk review", "", f"The plan step failed: {reason(results.plan_failure)}"])
    if not summary:
        sections += [
            run.fleet_table(targets),
            run.backup_section(targets),
            run.deploy_section(targets),
            run.checks_section("Restore", "restore", targets),
            run.checks_section("Restore drill", "drill", targets),
            run.checks_section("Verification", "verify", targets),
        ]
    sections.append(run.timings(targets, info.rto_s))  # in no step's own summary
    if info.workflow == "migrate":
        sections.append(run.restore_section(targets, info.config, info.restore_workflow_url))
        sections.append(checklists(info, results))
    for section in sections:
        if section:
            lines += [*section, ""]
    if not summary:
        lines.append("<sub>updated in place by pgwarden</sub>")
    return "\n".join(lines).rstrip() + "\n"
