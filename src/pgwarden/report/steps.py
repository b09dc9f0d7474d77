"""After one action's step: its result read back, and the outputs, step summary and annotations it gives.

``actions/_lib/run.sh`` runs a command with ``--format json`` into ``RESULTS/STEP.json``, then
``pgwarden report step STEP`` (a thin wrapper over :func:`summarise_step`) turns that document
into the action's outputs, a step summary and workflow-command annotations. A failure or refusal
is the CLI's error document (:class:`pgwarden.errors.ErrorReport`): the summary and the annotation
say its message and hint. Plan findings are annotated by the one policy of
:mod:`pgwarden.report.annotations`, as ``pgwarden plan`` itself does outside the actions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgwarden.durations import format_duration
from pgwarden.errors import EXIT_PLAN_BLOCKED, EXIT_REFUSED, ErrorReport
from pgwarden.records import PlanReport
from pgwarden.rehearsal import APPLIED, FAILED, RehearsalReport, mode_label
from pgwarden.report.annotations import annotation, annotation_lines
from pgwarden.report.comment_run import (
    backup_section,
    checks_section,
    deploy_section,
    failure_section,
    reason,
    restore_section,
)
from pgwarden.report.findings import verdict
from pgwarden.report.format import cell, error_text
from pgwarden.report.markdown import PlanView, fit, plan_body
from pgwarden.report.results import RunResults, TargetResults, read_document

#: How much of the step's log the summary quotes when the step printed no result at all.
LOG_TAIL_CHARS = 2000
#: Longest message or hint a step summary shows (they are one or two lines in practice).
MESSAGE_CHARS = 2000


@dataclass
class StepReport:
    """One step's result as the action reports it."""

    step: str
    path: Path
    document: dict[str, Any]
    exit_code: int | None

    @property
    def succeeded(self) -> bool:
        return self.exit_code in (None, 0)

    @property
    def error(self) -> ErrorReport | None:
        return ErrorReport.from_json(self.document)

    @property
    def plan(self) -> PlanReport | None:
        """The plan's findings (``plan`` only, and only when it printed its report)."""
        if self.step != "plan" or self.error is not None:
            return None
        return RunResults.from_plan_document(self.document).plan

    @property
    def rehearsal(self) -> RehearsalReport | None:
        """The rehearsal's report (``rehearse`` only, and only when it printed one: exit 0 or 1)."""
        if self.step != "rehearse" or self.error is not None:
            return None
        try:
            return RehearsalReport.from_json(self.document)
        except ValueError:
            return None

    def outputs(self) -> dict[str, str]:
        """The action's outputs (``report-path``, ``ok``, and the step's own: backup-id, blocked...)."""
        doc = self.document
        out = {"report-path": str(self.path), "ok": str(self.succeeded).lower()}
        if self.step == "plan":
            raw = doc.get("summary")
            summary: dict[str, Any] = raw if isinstance(raw, dict) else {}
            out["max-severity"] = str(summary.get("max_severity") or "")
            out["blocked"] = str(bool(summary.get("blocked")) or self.exit_code == EXIT_PLAN_BLOCKED).lower()
            plan = self.plan
            # A plan that failed has no pending count: "" (not "0", which would read as nothing to deploy).
            out["pending-count"] = str(len(plan.pending)) if plan is not None else ""
            out["basis"] = plan.basis if plan is not None else ""
        backup = doc.get("backup")
        if doc.get("id") is not None:
            out["backup-id"] = str(doc["id"])
        elif isinstance(backup, dict) and backup.get("id"):
            out["backup-id"] = str(backup["id"])
        elif doc.get("backup_id"):
            out["backup-id"] = str(doc["backup_id"])
        if self.step == "deploy":
            out["applied-count"] = str(len(doc.get("applied", []) or []))
        if self.step == "rehearse":
            out.update(rehearsal_outputs(self.rehearsal))
        return out

    def annotations(self) -> list[str]:
        """The plan's findings (capped, on lines that exist in the file), then one line if the step failed."""
        plan = self.plan
        lines = annotation_lines(plan) if plan is not None else []
        rehearsal = self.rehearsal
        if rehearsal is not None and not rehearsal.dropped:
            lines.append(annotation("warning", f"the scratch database {rehearsal.scratch_database} holds a copy of "
                                    "production and was not dropped: drop it", title="pgwarden rehearse"))
        if self.document.get("ok") is False or not self.succeeded:
            lines.append(annotation("error", f"pgwarden {self.step}: {self.headline()}", title=f"pgwarden {self.step}"))
        return lines

    def headline(self) -> str:
        """What happened, in one message: the error and its hint, the plan's state, or the summary."""
        error = self.error
        if error is not None:
            return error.message + (f"\nhint: {error.hint}" if error.hint else "")
        plan = self.plan
        if plan is not None:
            # Not findings.verdict(): that names the fail_on, which the document does not carry.
            top = plan.max_severity.value if plan.max_severity is not None else "none"
            n = len(plan.findings)
            state = "blocked" if plan.blocked else "not blocked"
            return f"{state}: {n} finding{'s' if n != 1 else ''}, highest {top}"
        rehearsal = self.rehearsal
        if rehearsal is not None:
            return rehearsal_headline(rehearsal)
        summary = self.document.get("summary")
        return summary if isinstance(summary, str) and summary else f"pgwarden {self.step} failed"

    def markdown(self) -> str:
        """The step summary."""
        error = self.error
        if error is not None:
            return error_markdown(error, self.step)
        doc, step = self.document, self.step
        if step == "plan":
            return plan_markdown(RunResults.from_plan_document(doc), self.exit_code)
        targets = [TargetResults.from_documents("default", {step: doc})]
        ok = doc.get("ok", True) is not False and self.succeeded
        summary = doc.get("summary")
        body = [f"## {'✅' if ok else '❌'} pgwarden {step}", ""]
        if step == "deploy" and not ok:
            # The error, what changed, the next step and the restore: the summary line would say it twice.
            environment = str(doc.get("environment") or "")
            body += [*failure_section(targets, environment), *deploy_section(targets), "",
                     *restore_section(targets, None, None)]
            return "\n".join(body).rstrip() + "\n"
        if step == "rehearse":
            summary = self.headline()
        body += [cell(summary if isinstance(summary, str) else "", MESSAGE_CHARS), ""]
        body += backup_section(targets) if step == "backup" else []
        body += deploy_section(targets) if step == "deploy" else []
        if step in ("verify", "restore", "drill"):
            body += checks_section("Checks", step, targets)
        return "\n".join(body)


def rehearsal_outputs(report: RehearsalReport | None) -> dict[str, str]:
    """The rehearse action's own outputs; empty values when the rehearsal printed no report."""
    if report is None:
        return {"failed-count": "", "applied-count": "", "longest-lock-s": "", "longest-lock": ""}
    held = [(lock, m.name) for m in report.migrations for lock in m.locks]
    out = {"failed-count": str(sum(1 for m in report.migrations if m.status == FAILED)),
           "applied-count": str(sum(1 for m in report.migrations if m.status == APPLIED)),
           "longest-lock-s": "", "longest-lock": ""}
    if held:
        lock, name = max(held, key=lambda pair: pair[0].held_s)
        out["longest-lock-s"] = f"{lock.held_s:.3f}"
        out["longest-lock"] = f"{mode_label(lock.mode)} on {lock.table} for {format_duration(lock.held_s)} by {name}"
    return out


def rehearsal_headline(report: RehearsalReport) -> str:
    """One line: what failed on the copy, or that everything applied and the longest lock."""
    failed = report.failed
    if failed is not None:
        code = f" ({failed.sqlstate})" if failed.sqlstate else ""
        return f"{failed.name} failed on the copy of production: {failed.error or 'no error message'}{code}"
    outputs = rehearsal_outputs(report)
    n = len(report.migrations)
    lock = f"; longest lock: {outputs['longest-lock']}" if outputs["longest-lock"] else ""
    return f"{n} migration{'s' if n != 1 else ''} applied on the copy of production in " \
           f"{format_duration(report.migrate_s)}{lock}"


def plan_markdown(results: RunResults, exit_code: int | None, limit: int = MESSAGE_CHARS * 30) -> str:
    """The plan step's summary: its verdict, then the review as the PR comment shows it (this is its one copy)."""
    plan = results.plan
    if plan is None:
        failure = results.plan_failure
        found = reason(failure) if failure is not None else "no plan result was found"
        return f"## ❌ pgwarden plan\n\nThe plan step failed: {found}\n"
    icon = "⛔" if plan.blocked else ("⚠️" if plan.findings else "✅")
    head = f"## {icon} pgwarden plan: {verdict(plan)}" + (f" (exit {exit_code})" if exit_code else "")

    def render(view: PlanView) -> str:
        return "\n".join([head, "", *plan_body(plan, view)]).rstrip() + "\n"

    return fit(render, len(plan.findings), limit, "the run's plan artifact")


def error_markdown(error: ErrorReport, step: str) -> str:
    """A failure or refusal as a step summary: what went wrong, then what to do."""
    icon = "⛔" if error.exit_code == EXIT_REFUSED else "❌"
    return "\n".join([f"## {icon} pgwarden {step}", "", error_text(error, MESSAGE_CHARS)])


def summarise_step(results: Path, step: str, exit_code: int | None) -> StepReport:
    """Read ``RESULTS/STEP.json`` (a failed result saying so when the step printed none)."""
    path = results / f"{step}.json"
    log = results / f"{step}.log"
    tail = log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:] if log.is_file() else ""
    found = read_document(path, exit_code, tail)
    doc: dict[str, Any] = found if found is not None else {
        "step": step, "ok": False, "summary": f"pgwarden {step} left no result", "checks": []}
    if exit_code not in (None, 0) and step != "plan":
        doc["ok"] = False
    return StepReport(step, path, doc, exit_code)


def record_step(report: StepReport) -> None:
    """Write the document back as read (``ok`` false after a failure): the PR comment reads this one."""
    report.path.write_text(json.dumps(report.document, indent=2, default=str), encoding="utf-8")
