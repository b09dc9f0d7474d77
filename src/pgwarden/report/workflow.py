"""The reusable workflows' own steps: fleet targets, approvals, collecting a job's results.

Behind ``pgwarden report expand-targets``, ``check-approval``, ``check-environment``, ``collect``
and ``locate-dump`` (thin wrappers in :mod:`pgwarden.cli.report`). Inputs arrive through the
environment (the workflows map ``${{ inputs.* }}`` into ``env:``), never pasted into a script.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.records import Check, StepResult
from pgwarden.redact import redact
from pgwarden.report.github import ApiRefused, Approval, ApprovalDecision, Protection
from pgwarden.report.results import RunResults, read_document

#: What a target is called when the workflow has no ``targets`` input (one database).
DEFAULT_TARGET = {"name": "default", "secret": "DATABASE_URL", "config": ""}
FILE_STORE = "file://"


def parse_outcomes(pairs: list[str]) -> dict[str, str]:
    """``["backup=success", ...]`` (the repeatable ``--outcome STEP=RESULT``) as a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--outcome {pair!r}: expected STEP=RESULT")
        out[key.strip()] = value.strip()
    return out


def expand_targets(text: str) -> list[dict[str, str]]:
    """Fleet mode's ``targets`` input, validated: names unique and safe, each with a secret name."""
    if not text.strip():
        return [dict(DEFAULT_TARGET)]
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"targets: expected a JSON list, got invalid JSON ({exc.msg})") from None
    if not isinstance(raw, list) or not raw:
        raise ConfigError("targets: expected a non-empty JSON list of names or {name, secret, config} objects")
    out: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        entry = {"name": item} if isinstance(item, str) else item
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"targets[{i}]: expected a name or an object with a name")
        name = entry["name"]
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ConfigError(f"targets[{i}].name: expected letters, digits, - or _, got {name!r}")
        secret = str(entry.get("secret") or "DATABASE_URL_" + name.upper().replace("-", "_"))
        if not all(c.isalnum() or c == "_" for c in secret):
            raise ConfigError(f"targets[{i}].secret: expected a secret name, got {secret!r}")
        out.append({"name": name, "secret": secret, "config": str(entry.get("config") or "")})
    names = [t["name"] for t in out]
    if len(set(names)) != len(names):
        raise ConfigError("targets: each name once")
    return out


def record_approval(results: Path, decision: ApprovalDecision) -> Path:
    """The pull-request review's decision as a step result, so the PR comment can say why nothing ran.

    When ``check-environment`` ran first in the job, its document stays (who approved the
    environment, its reviewers): the review's decision is added to it, and either can refuse.
    """
    results.mkdir(parents=True, exist_ok=True)
    path = results / "approval.json"
    summary = redact(decision.message)
    document: dict[str, Any] = {"step": "approval", "ok": decision.approved, "summary": summary}
    earlier = read_document(path)
    if earlier is not None and "environment" in earlier:
        document = {**earlier, "ok": bool(earlier.get("ok")) and decision.approved,
                    "summary": summary if not decision.approved else f"{earlier.get('summary', '')}; {summary}",
                    "pull_request_review": {"ok": decision.approved, "summary": summary}}
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


#: ``--require-reviewers``: what an environment without required reviewers does to the job.
REVIEWER_MODES = ("fail", "warn")


@dataclass(frozen=True)
class EnvironmentCheck:
    """Is the environment protected by required reviewers, and who approved this run?

    ``problem`` is what is wrong (no reviewers, the environment missing, the rules unreadable);
    with mode ``fail`` it stops the job, with ``warn`` it is a warning.
    """

    environment: str
    mode: str
    protection: Protection | None
    approved_by: list[str]
    problem: str | None = None
    hint: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.problem is not None and self.mode == "fail"

    def result(self) -> StepResult:
        """The ``approval.json`` document: a step result with the fields the comment shows."""
        p = self.protection
        reviewers = ", ".join(p.required_reviewers) if p and p.required_reviewers else ""
        checks = [Check("required reviewers", self.problem is None, self.problem or f"required reviewers: {reviewers}",
                        warning=self.mode == "warn")]
        checks += [Check("approval", False, w, warning=True) for w in self.warnings]
        if self.problem:
            summary = self.problem
        elif self.approved_by:
            summary = f"{self.environment}: approved by {', '.join(self.approved_by)}"
        else:
            summary = f"{self.environment}: protected by {reviewers}"
        return StepResult("approval", not self.refused, redact(summary), checks=checks, details={
            "environment": self.environment,
            "required_reviewers": list(p.required_reviewers) if p else [],
            "prevent_self_review": p.prevent_self_review if p else None,
            "approved_by": list(self.approved_by),
            "checked": p is not None,
            "mode": self.mode,
        })


def decide_environment(environment: str, mode: str, protection: Protection | None, approvals: list[Approval],
                       refused: ApiRefused | None = None) -> EnvironmentCheck:
    """Pure: the verdict on an environment's protection and this run's approvals.

    ``protection`` None means GitHub refused to show it (``refused`` says why). Only approvals of
    ``environment`` in state ``approved`` count, each login once.
    """
    if mode not in REVIEWER_MODES:
        raise ConfigError(f"--require-reviewers: expected fail or warn, got {mode!r}")
    approved_by = list(dict.fromkeys(a.login for a in approvals
                                     if a.state.lower() == "approved" and a.environment == environment and a.login))
    if protection is None:
        why = refused.message if refused else "GitHub did not say"
        return EnvironmentCheck(environment, mode, None, approved_by,
                                f"the protection rules of environment {environment!r} could not be read: {why}",
                                hint=refused.hint if refused else None)
    if not protection.exists:
        return EnvironmentCheck(environment, mode, protection, approved_by,
                                f"environment {environment!r} does not exist: a job naming it creates it without "
                                "protection (is the name spelled as in Settings → Environments?)",
                                hint=f"create {environment!r} with required reviewers, or pass the right name")
    if not protection.required_reviewers:
        return EnvironmentCheck(environment, mode, protection, approved_by,
                                f"environment {environment!r} has no required reviewers: every push deploys "
                                "without anyone approving it",
                                hint=f"Settings → Environments → {environment} → Required reviewers "
                                     "(or --require-reviewers warn to accept this)")
    warnings = []
    if not protection.prevent_self_review:
        warnings.append(f"environment {environment!r} lets whoever triggered a run approve it: "
                        "turn on “Prevent self-review”")
    if refused is not None:
        warnings.append(f"who approved this run is unknown: {refused.message} ({refused.hint})")
    elif not approved_by:
        warnings.append(f"no approval of this run for {environment!r} is recorded "
                        "(approved before the job started? an administrator bypassing the rules?)")
    return EnvironmentCheck(environment, mode, protection, approved_by, warnings=tuple(warnings))


def record_environment_check(results: Path, check: EnvironmentCheck) -> Path:
    """``approval.json`` in ``results`` (replacing a pull-request review's decision, if any)."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / "approval.json"
    path.write_text(json.dumps(check.result().to_json(), indent=2), encoding="utf-8")
    return path


def leaves_comments_alone(event_name: str, results: RunResults) -> bool:
    """A push run that had nothing to deploy keeps its hands off the PR comment.

    The comment of the push that deployed holds that deploy's backup as the restore pointer;
    a later push with nothing pending (no plan pending, nothing applied) must not replace it.
    """
    if event_name != "push":
        return False
    pending = results.plan.pending if results.plan is not None else []
    applied = any((t.steps.get("deploy") is not None and t.steps["deploy"].details.get("applied"))
                  or t.outcome("deploy") == "failure" for t in results.targets)
    return not pending and not applied and results.plan_failure is None


@dataclass(frozen=True)
class Collected:
    """What :func:`collect_results` put into the results folder."""

    outcomes: Path
    audit_log: Path | None
    reports: Path | None


def collect_results(settings: Settings, results: Path, target: str, outcomes: dict[str, str]) -> Collected:
    """Save the steps' outcomes and copy the audit log and the reports next to the step results."""
    audit_log = settings.resolve_path(settings.deploy.audit_log)
    reports_dir = settings.resolve_path(settings.report.dir)
    results.mkdir(parents=True, exist_ok=True)
    meta = results / "outcomes.json"
    meta.write_text(json.dumps({"target": target, "outcomes": outcomes}, indent=2), encoding="utf-8")
    audit = None
    if audit_log.is_file():
        audit = results / "audit.jsonl"
        shutil.copyfile(audit_log, audit)
    reports = None
    if reports_dir.is_dir():
        reports = results / "reports"
        shutil.copytree(reports_dir, reports, dirs_exist_ok=True)
    return Collected(meta, audit, reports)


def local_dump_path(settings: Settings, results: Path) -> Path | None:
    """Where the job's backup (its ``backup.json``) is on this runner; None when the store is remote."""
    doc = read_document(results / "backup.json")
    if not doc or not doc.get("id"):
        raise OperationFailed("no backup result to locate")
    store = settings.backup.store
    if not store.startswith(FILE_STORE):
        return None
    return settings.resolve_path(store[len(FILE_STORE):]) / str(doc["id"])
