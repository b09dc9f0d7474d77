"""The reusable workflows' own steps: fleet targets, the pull-request approval, collecting a job's results.

Behind ``pgwarden report expand-targets``, ``check-approval``, ``collect`` and ``locate-dump``
(thin wrappers in :mod:`pgwarden.cli.report`). Inputs arrive through the environment (the
workflows map ``${{ inputs.* }}`` into ``env:``), never pasted into a script.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.redact import redact
from pgwarden.report.github import ApprovalDecision
from pgwarden.report.results import read_document

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
    """The approval decision as a step result, so the PR comment can say why nothing ran."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / "approval.json"
    document: dict[str, Any] = {"step": "approval", "ok": decision.approved, "summary": redact(decision.message)}
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


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
