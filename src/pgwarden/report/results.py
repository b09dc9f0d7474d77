"""A run's results read back into records: what report/comment.py renders.

A run's results are the JSON documents the steps printed (``plan.json``, ``backup.json`` = the
manifest, ``approval.json``, ``rehearse.json``, ``deploy.json``, ``verify.json``, ``restore.json``,
``drill.json``) plus the outcome of each step as GitHub saw it (``outcomes.json``).
:func:`load_results` reads them from a results folder (one sub-folder per downloaded artifact;
folders of one target, e.g. its rehearse and its migrate job's, are merged) into a
:class:`PlanReport`, a :class:`BackupManifest`, a :class:`RehearsalReport` and :class:`StepResult` records. A step that
failed prints the error document of the CLI contract; one that printed nothing at all (it
crashed) gets such a document made up by :func:`read_document`, so every failure has a reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgwarden.errors import EXIT_FAILED, ErrorReport
from pgwarden.manifest import BackupManifest
from pgwarden.records import PlanReport, StepResult
from pgwarden.rehearsal import RehearsalReport

RESULT_FILES = ("plan", "approval", "rehearse", "backup", "deploy", "verify", "restore", "drill")
#: The artifact name's prefix before the target name (``pgwarden-migrate-production-default``).
_TARGET_FOLDERS = ("pgwarden-migrate-", "pgwarden-rehearse-")
_LOG_LINE_LIMIT = 300
#: The CLI's own error message, when the log has it: all of it (a few lines at most).
_MESSAGE_LIMIT = 4000


def step_error(result: StepResult) -> ErrorReport | None:
    """The error a failed step printed (message, hint, kind), or None for a step that printed its result."""
    return ErrorReport.from_json({"step": result.step, "ok": result.ok, **result.details})


@dataclass(frozen=True)
class Approval:
    """``approval.json`` as ``report check-environment`` writes it: who had to approve, who did."""

    environment: str
    required_reviewers: list[str]
    approved_by: list[str]
    #: The environment's protection rules were read (False: the token could not read them).
    checked: bool

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Approval:
        def names(key: str) -> list[str]:
            value = document.get(key)
            return [str(v) for v in value] if isinstance(value, list) else []

        return cls(str(document.get("environment") or ""), names("required_reviewers"), names("approved_by"),
                   bool(document.get("checked")))


def is_environment_check(document: Mapping[str, Any]) -> bool:
    """The environment check's document (not the pull-request review step result, which has ``ok``)."""
    return "checked" in document or "required_reviewers" in document


@dataclass
class TargetResults:
    """What one target's job left behind."""

    name: str
    #: Each step's result by step name; the backup's only when it failed (else see ``backup``).
    steps: dict[str, StepResult] = field(default_factory=dict)
    backup: BackupManifest | None = None
    #: The outcome of each step as GitHub saw it (success, failure, skipped, cancelled).
    outcomes: dict[str, str] = field(default_factory=dict)
    #: Who had to approve the job's environment and who did (``report check-environment``).
    approval: Approval | None = None
    #: What the pending migrations did on a copy of production (``rehearse.json``), when it ran;
    #: a rehearsal that printed an error instead is the failed step ``rehearse``.
    rehearsal: RehearsalReport | None = None

    @classmethod
    def from_documents(
        cls, name: str, documents: Mapping[str, Mapping[str, Any]], outcomes: Mapping[str, str] | None = None
    ) -> TargetResults:
        """The records of the steps' JSON documents (keyed by step name, as in the results folder)."""
        target = cls(name=name, outcomes=dict(outcomes or {}))
        for step, document in documents.items():
            if step == "approval" and is_environment_check(document):
                target.approval = Approval.from_json(document)
                if "ok" not in document:  # no step result around it: the record is all there is
                    continue
            if step == "rehearse":
                target.rehearsal, failure = read_rehearsal(document)
                if failure is not None:
                    target.steps[step] = failure
                continue
            if step != "backup" or not _is_manifest(document):
                target.steps[step] = read_step(step, document)
                continue
            target.backup = _read_manifest(document)
            if target.backup is None:
                target.steps[step] = StepResult(step, ok=False, summary="backup.json is not a complete backup manifest")
        return target

    def merge(self, other: TargetResults) -> None:
        """Add what ``other`` (another artifact of the same target) holds that this one does not.

        Where both have a record, this one's stays: the migrate job's folder sorts before the
        rehearse job's, and its backup, approval and outcomes are the deploy's own.
        """
        self.steps = {**other.steps, **self.steps}
        self.outcomes = {**other.outcomes, **self.outcomes}
        self.backup = self.backup or other.backup
        self.approval = self.approval or other.approval
        self.rehearsal = self.rehearsal or other.rehearsal

    def outcome(self, step: str) -> str:
        if self.outcomes.get(step):
            return self.outcomes[step]
        if step == "backup" and self.backup is not None:
            return "success"
        if step == "rehearse" and self.rehearsal is not None:
            return "success" if self.rehearsal.ok else "failure"
        result = self.steps.get(step)
        if result is None:
            return "skipped"
        return "success" if result.ok else "failure"


@dataclass
class RunResults:
    """Everything a run left: the plan (or why there is none) and each target's results."""

    plan: PlanReport | None = None
    #: The plan step's failure when it printed an error instead of a plan.
    plan_failure: StepResult | None = None
    targets: list[TargetResults] = field(default_factory=list)
    #: A ``rehearse.json`` next to ``plan.json`` (no target of its own: a local run, a single database).
    rehearsal: RehearsalReport | None = None

    @classmethod
    def from_plan_document(cls, document: Mapping[str, Any]) -> RunResults:
        results = cls()
        results.set_plan(document)
        return results

    def set_plan(self, document: Mapping[str, Any]) -> None:
        """The plan's record from ``plan.json``: a plan report, or the failure it printed instead."""
        if "findings" in document and "error" not in document:
            try:
                self.plan = PlanReport.from_json(document)
                return
            except (KeyError, TypeError, ValueError) as exc:
                self.plan_failure = _unreadable("plan", exc)
                return
        self.plan_failure = read_step("plan", document)


def read_rehearsal(document: Mapping[str, Any]) -> tuple[RehearsalReport | None, StepResult | None]:
    """``rehearse.json``: (the report, None), or (None, the failed step) for an error document or a bad shape."""
    if "error" in document and "migrations" not in document:
        return None, read_step("rehearse", {"ok": False, **document})
    try:
        return RehearsalReport.from_json(document), None
    except ValueError as exc:
        return None, _unreadable("rehearse", exc)


def read_step(step: str, document: Mapping[str, Any]) -> StepResult:
    """One step's result; a document that is not one becomes a failed result saying so."""
    try:
        return StepResult.from_json({"step": step, **document})
    except (KeyError, TypeError, ValueError) as exc:
        return _unreadable(step, exc)


def read_document(path: Path, exit_code: int | None = None, log_tail: str = "") -> dict[str, Any] | None:
    """One step's JSON document, or None when the file is not there.

    A step that left the file empty or not JSON (it died before printing) gets the error
    document it would have printed: the reason is the last line of its log (and the line
    before, when the last one is the ``hint:``), the kind follows the exit code.
    """
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if text:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            return doc
    message, hint = f"pgwarden {path.stem} printed no result", None
    said, hint = _error_from_log(path.stem, log_tail)
    if said:
        message += ": " + said
    return ErrorReport(path.stem, EXIT_FAILED if exit_code is None else exit_code, message, hint).to_json()


def _error_from_log(step: str, log_tail: str) -> tuple[str, str | None]:
    """(message, hint) the log says: the CLI's own ``pgwarden STEP: message`` and its ``hint:``
    lines when they are there (all of the message's lines), else the last line."""
    lines = [line.strip() for line in log_tail.strip().splitlines() if line.strip()]
    hint = None
    if lines and lines[-1].lower().startswith("hint:"):
        hint = lines.pop()[len("hint:"):].strip()[:_MESSAGE_LIMIT] or None
    prefix = f"pgwarden {step}: "
    starts = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if starts:
        message = " ".join(lines[starts[-1]:])
        return message[:_MESSAGE_LIMIT], hint
    return (lines[-1][:_LOG_LINE_LIMIT] if lines else ""), hint


def load_results(root: Path) -> RunResults:
    """Read a results folder: either one step folder, or one sub-folder per downloaded artifact."""
    results = RunResults()
    seen_plan = False
    folders = [root, *sorted(p for p in root.rglob("*") if p.is_dir())] if root.is_dir() else []
    by_name: dict[str, TargetResults] = {}
    for folder in folders:
        docs, meta = _read_folder(folder)
        plan = docs.pop("plan", None)
        if plan is not None and not seen_plan:
            results.set_plan(plan)
            seen_plan = True
        if plan is not None and "rehearse" in docs and not meta:
            results.rehearsal, _ = read_rehearsal(docs.pop("rehearse"))
        if docs or meta:
            name = str(meta.get("target") or (folder.name if folder != root else "default"))
            if name.startswith(_TARGET_FOLDERS):
                name = name.rsplit("-", 1)[-1]
            outcomes = {str(k): str(v) for k, v in dict(meta.get("outcomes") or {}).items()}
            target = TargetResults.from_documents(name, docs, outcomes)
            if folder != root and name in by_name:  # one target's artifacts: its rehearse and migrate jobs'
                by_name[name].merge(target)
                continue
            if folder != root:
                by_name[name] = target
            results.targets.append(target)
    return results


def _read_folder(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for name in RESULT_FILES:
        doc = read_document(folder / f"{name}.json")
        if doc is not None:
            docs[name] = doc
    meta: dict[str, Any] = {}
    if (folder / "outcomes.json").is_file():
        loaded = json.loads((folder / "outcomes.json").read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            meta = loaded
    return docs, meta


def _is_manifest(document: Mapping[str, Any]) -> bool:
    """A backup printed its manifest (no ``ok``: a manifest exists only for a backup that was taken)."""
    return "error" not in document and document.get("ok", True) is not False


def _read_manifest(document: Mapping[str, Any]) -> BackupManifest | None:
    try:
        return BackupManifest.from_json(dict(document))
    except (KeyError, TypeError, ValueError):
        return None


def _unreadable(step: str, exc: Exception) -> StepResult:
    reason = f"{type(exc).__name__}: {exc}"
    return StepResult(step, ok=False, summary=f"{step}.json is not a result pgwarden can read ({reason})")
