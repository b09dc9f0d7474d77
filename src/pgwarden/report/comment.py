"""The pipeline report shown in the PR comment and the step summary (pure: records in, markdown out).

:func:`render_report` turns a run's results (read by :mod:`pgwarden.report.results`) into one
markdown document that fits in a PR comment (65,536 characters): findings are dropped lowest
severity first when it would not. Findings are rendered by the plan report's own
:func:`~pgwarden.report.markdown.findings_markdown`; a step that failed says its error's message
and hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgwarden.durations import format_duration
from pgwarden.records import PlanReport, StepResult
from pgwarden.report.checklist import render_checklists
from pgwarden.report.findings import by_severity, keep_highest
from pgwarden.report.format import cell, check_icon, code, error_text, outcome_icon
from pgwarden.report.markdown import findings_markdown
from pgwarden.report.results import RunResults, TargetResults, step_error
from pgwarden.units import format_bytes

COMMENT_LIMIT = 65_536
SUMMARY_LIMIT = 1024 * 1024
STEPS = ("plan", "backup", "deploy", "verify")
#: How long a name, a store or a check's name may be in a table cell; summaries and details get more.
_NAME_CHARS = 160
_SUMMARY_CHARS = 300
_DETAIL_CHARS = 200
_LISTED_MIGRATIONS = 100


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


def reason(result: StepResult) -> str:
    """What a step said, one line: its summary, or for a failure its error's kind, message and hint."""
    error = step_error(result)
    if error is None:
        return cell(result.summary, _SUMMARY_CHARS)
    return error_text(error, _SUMMARY_CHARS)


def plan_blocked(plan: PlanReport | None) -> bool:
    return plan is not None and plan.blocked


def verdict(info: RunInfo, results: RunResults) -> tuple[str, str]:
    """(icon, sentence) for the heading."""
    plan_outcome = info.outcomes.get("plan", "")
    if plan_blocked(results.plan):
        return "⛔", "Blocked by the risk review: nothing was backed up or deployed."
    if results.plan is None and (plan_outcome == "failure" or results.plan_failure is not None):
        why = f": {reason(results.plan_failure)}" if results.plan_failure is not None else "."
        return "❌", f"The plan step failed before it could review the migrations{why}"
    if info.workflow == "restore":
        t = results.targets[0] if results.targets else TargetResults("default")
        if t.outcome("restore") == "success" and t.outcome("verify") in ("success", "skipped"):
            return "✅", "Restored and verified."
        return "❌", "The restore did not complete: see the steps below."
    refused = [t for t in results.targets if t.outcome("approval") == "failure"]
    if refused:
        approval = refused[0].steps.get("approval")
        why = reason(approval) if approval is not None and approval.summary else "see the job log"
        return "⛔", f"Not approved, nothing was backed up or deployed: {why}"
    failed = [t.name for t in results.targets if any(t.outcome(s) == "failure" for s in STEPS[1:])]
    if failed:
        return "❌", "Failed on " + ", ".join(failed) + ": see below, and the restore command."
    if info.stage == "plan":
        return "⏳", f"Risk review passed: waiting for approval of `{info.environment}`."
    migrate = info.outcomes.get("migrate", "")
    if migrate in ("cancelled", "skipped") or not results.targets:
        return "⚠️", f"The migrate job did not run ({migrate or 'no results'})."
    if all(t.outcome("deploy") == "success" and t.outcome("verify") == "success" for t in results.targets):
        return "✅", "Backed up, deployed and verified."
    return "⚠️", "Finished with steps that did not complete: see below."


def _step_outcomes(info: RunInfo, results: RunResults) -> dict[str, str]:
    out: dict[str, str] = {}
    seen_plan = "success" if results.plan else ("failure" if results.plan_failure else "skipped")
    plan = info.outcomes.get("plan") or seen_plan
    out["plan"] = "blocked" if plan_blocked(results.plan) else plan
    if info.workflow == "restore":
        t = results.targets[0] if results.targets else TargetResults("default")
        return {"restore": t.outcome("restore"), "verify": t.outcome("verify")}
    if info.stage == "plan" and out["plan"] == "success":
        out["approval"] = "pending"
        for step in STEPS[1:]:
            out[step] = "pending"
        return out
    if any(t.outcome("approval") == "failure" for t in results.targets):
        out["approval"] = "failure"
    else:
        out["approval"] = "success" if any(t.outcome("backup") != "skipped" for t in results.targets) else "skipped"
    for step in STEPS[1:]:
        seen = [t.outcome(step) for t in results.targets]
        out[step] = "failure" if "failure" in seen else (seen[0] if seen else "skipped")
    return out


def mermaid(info: RunInfo, results: RunResults) -> str:
    outcomes = _step_outcomes(info, results)
    nodes = [f'  {step}["{step} {outcome_icon(o)}"]' for step, o in outcomes.items()]
    chain = " --> ".join(outcomes)
    return "```mermaid\nflowchart LR\n" + "\n".join(nodes) + f"\n  {chain}\n```"


def plan_section(
    plan: PlanReport | None, keep: int | None, full_link: str | None, failure: StepResult | None = None
) -> list[str]:
    """The risk review: counts and verdict, then the ``keep`` highest findings (all for None)."""
    if plan is None:
        found = f"The plan step failed: {reason(failure)}" if failure is not None else "No plan result was found."
        return ["### Risk review", "", found]
    counts = ", ".join(f"{n} {sev}" for sev, n in plan.counts().items()) or "no findings"
    top = plan.max_severity.value if plan.max_severity is not None else "none"
    lines = ["### Risk review", ""]
    lines.append(
        f"{len(plan.pending)} pending migration(s); {counts}; highest severity: "
        f"**{top}**{' — **blocked**' if plan.blocked else ''}."
    )
    shown = keep_highest(plan.findings, keep)
    if shown:
        lines += ["", *findings_markdown(plan.migrations, shown)]
    if len(shown) < len(plan.findings):
        more = len(plan.findings) - len(shown)
        where = f" [full report]({full_link})" if full_link else " the full report in the run's artifacts"
        lines += ["", f"_{more} lower-severity finding(s) not shown here: see{where}._"]
    return lines


def backup_section(targets: list[TargetResults]) -> list[str]:
    rows, failures = [], []
    for t in targets:
        b = t.backup
        if b is None:
            failed = t.steps.get("backup")
            if failed is not None and not failed.ok:
                failures.append(f"- {_who(t, targets)}❌ {reason(failed)}")
            continue
        size = sum(f.size for f in b.files) if b.files else b.size_bytes
        sha = ", ".join(code(f.sha256[:16] + "…", in_table=True) for f in b.files[:3] if f.sha256) or "?"
        verified = check_icon(b.verified)
        rows.append(
            f"| {cell(t.name, _NAME_CHARS)} | {code(b.id, in_table=True)} | {format_bytes(size)} | {sha} "
            f"| {cell(b.store or '?', _NAME_CHARS)} | {verified} |"
        )
    if not rows and not failures:
        return []
    lines = ["### Backup", ""]
    if rows:
        lines += ["| target | id | size | sha256 | store | verified |", "|---|---|---|---|---|---|", *rows]
    if rows and failures:
        lines.append("")
    return lines + failures


def _applied_names(deploy: StepResult | None) -> list[str]:
    applied = deploy.details.get("applied") if deploy is not None else None
    names = []
    for item in applied if isinstance(applied, list) else []:
        names.append(str(item.get("name", item)) if isinstance(item, dict) else str(item))
    return names


def _who(target: TargetResults, targets: list[TargetResults]) -> str:
    """``**name**: `` before a target's line, in fleet mode only."""
    return f"**{cell(target.name, _NAME_CHARS)}**: " if len(targets) > 1 else ""


def deploy_section(targets: list[TargetResults]) -> list[str]:
    lines: list[str] = []
    for t in targets:
        d = t.steps.get("deploy")
        if d is None:
            continue
        names = _applied_names(d)
        lines.append(f"- {_who(t, targets)}{check_icon(d.ok)} {reason(d)}")
        lines += [f"  - {code(n)}" for n in names[:_LISTED_MIGRATIONS]]
        if len(names) > _LISTED_MIGRATIONS:
            lines.append(f"  - … and {len(names) - _LISTED_MIGRATIONS} more")
    return ["### Applied migrations", "", *lines] if lines else []


def checks_section(title: str, step: str, targets: list[TargetResults]) -> list[str]:
    lines: list[str] = []
    for t in targets:
        result = t.steps.get(step)
        if result is None:
            continue
        prefix = f"{cell(t.name, _NAME_CHARS)} · " if len(targets) > 1 else ""
        lines.append(f"{prefix}{check_icon(result.ok)} {reason(result)}")
        if result.checks:
            lines += ["", "| check | result | detail |", "|---|---|---|"]
            for c in result.checks[:100]:
                lines.append(
                    f"| {cell(c.name, _NAME_CHARS)} | {check_icon(c.ok, c.warning)} | {cell(c.detail, _DETAIL_CHARS)} |"
                )
        lines.append("")
    return [f"### {title}", "", *lines] if lines else []


def _fleet_table(targets: list[TargetResults]) -> list[str]:
    if len(targets) < 2:
        return []
    lines = ["### Targets", "", "| target | backup | deploy | verify | applied |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(
            f"| {cell(t.name, _NAME_CHARS)} | {outcome_icon(t.outcome('backup'))} "
            f"| {outcome_icon(t.outcome('deploy'))} | {outcome_icon(t.outcome('verify'))} "
            f"| {len(_applied_names(t.steps.get('deploy')))} |"
        )
    return lines


def _duration_of(target: TargetResults, step: str) -> float | None:
    """How long a step took, when it said (a failure document does not)."""
    if step == "backup" and target.backup is not None:
        return target.backup.duration_s
    result = target.steps.get(step)
    if result is None or step_error(result) is not None:
        return None
    return result.duration_s


def _timings(info: RunInfo, results: RunResults) -> list[str]:
    rows = []
    for t in results.targets:
        for step in ("backup", "deploy", "verify", "restore", "drill"):
            seconds = _duration_of(t, step)
            if seconds is None:
                continue
            label = f"{t.name} · {step}" if len(results.targets) > 1 else step
            extra = ""
            if step == "restore" and info.rto_s:
                within = seconds <= info.rto_s
                extra = f" (RTO {format_duration(info.rto_s)}: {'within ✅' if within else 'exceeded ❌'})"
            rows.append(f"| {cell(label, _NAME_CHARS)} | {format_duration(seconds)}{extra} |")
    return ["### Timings", "", "| step | duration |", "|---|---|", *rows] if rows else []


def restore_command(target: TargetResults, config: str | None) -> str | None:
    b = target.backup
    if b is None or not b.id:
        return None
    parts = ["pgwarden restore"]
    if config:
        parts.append(f"--config {config}")
    parts.append(f"--backup-id {b.id} --confirm {b.database or 'DBNAME'}")
    return " ".join(parts)


def _restore_section(info: RunInfo, results: RunResults) -> list[str]:
    commands = []
    for t in results.targets:
        cmd = restore_command(t, info.config)
        if cmd:
            prefix = f"# {t.name}\n" if len(results.targets) > 1 else ""
            commands.append(prefix + cmd)
    if not commands:
        return []
    lines = ["### Restore", "", "If this deploy must be undone, restore the backup taken before it:", "", "```sh"]
    lines += [*commands, "```"]
    if info.restore_workflow_url:
        lines += ["", f"Or run the [restore workflow]({info.restore_workflow_url}) with this backup id."]
    return lines


def checklist_evidence(info: RunInfo, results: RunResults) -> dict[str, str]:
    """Which runbook checklist items this run really did, with the evidence (ids of report.checklist)."""
    o = _step_outcomes(info, results)
    done: dict[str, str] = {}
    if results.plan is not None and not plan_blocked(results.plan):
        done["review"] = "risk review passed"
    if any(t.backup is not None and t.backup.verified for t in results.targets):
        done["backup-created"] = "verified: pg_restore --list and checksums"
        done["backup-confirmed"] = "before the deploy started"
    if any(restore_command(t, None) for t in results.targets):
        done["rollback-plan"] = "restore command below"
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
    """The runbooks' before/during/after checklists, ticked from what this run actually did."""
    return render_checklists(checklist_evidence(info, results)).splitlines()


def render_report(
    info: RunInfo, results: RunResults, *, limit: int = COMMENT_LIMIT, full_link: str | None = None
) -> str:
    """The whole report; findings are cut lowest severity first until it fits in ``limit``."""
    findings = by_severity(results.plan.findings) if results.plan else []
    keep: int | None = None
    while True:
        text = _render(info, results, keep, full_link)
        if len(text) <= limit:
            return text
        if keep == 0 or not findings:
            break
        current = len(findings) if keep is None else keep
        keep = max(0, current - max(1, current // 4))
    cut = "\n\n_…report truncated; see the run's artifacts for the full report._\n"
    return text[: limit - len(cut)] + cut


def _render(info: RunInfo, results: RunResults, keep: int | None, full_link: str | None) -> str:
    icon, sentence = verdict(info, results)
    title = {"migrate": "migrate", "restore": "restore", "drill": "restore drill"}.get(info.workflow, info.workflow)
    lines = [marker(info.workflow, info.environment), f"## {icon} pgwarden {title} → {code(info.environment)}", ""]
    lines.append(sentence)
    if info.pull_request:
        lines += ["", f"<sub>{cell(info.pull_request, _SUMMARY_CHARS)}</sub>"]
    lines += ["", mermaid(info, results), ""]
    sections: list[list[str]] = []
    if info.workflow == "migrate":
        sections.append(plan_section(results.plan, keep, full_link, results.plan_failure))
    sections += [
        _fleet_table(results.targets),
        backup_section(results.targets),
        deploy_section(results.targets),
        checks_section("Restore", "restore", results.targets),
        checks_section("Restore drill", "drill", results.targets),
        checks_section("Verification", "verify", results.targets),
        _timings(info, results),
        _restore_section(info, results) if info.workflow == "migrate" else [],
    ]
    if info.workflow == "migrate":
        sections.append(checklists(info, results))
    for section in sections:
        if section:
            lines += [*section, ""]
    if info.run_url:
        lines.append(f"<sub>[workflow run]({info.run_url}) · updated in place by pgwarden</sub>")
    return "\n".join(lines).rstrip() + "\n"
