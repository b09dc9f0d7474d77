"""The pipeline report shown in the PR comment and the step summary (pure: results in, markdown out).

A run's results are the JSON documents the steps printed (``plan.json``, ``backup.json`` = the
manifest, ``deploy.json``, ``verify.json``, ``restore.json``, ``drill.json``) plus the outcome of
each step as GitHub saw it. :func:`load_results` reads them from a results folder (one folder per
target in fleet mode); :func:`render_report` turns them into one markdown document that fits in
a PR comment (65,536 characters): findings are dropped lowest severity first when it would not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgwarden.records import SEVERITY_NAMES
from pgwarden.report.checklist import render_checklists

COMMENT_LIMIT = 65_536
SUMMARY_LIMIT = 1024 * 1024
STEPS = ("plan", "backup", "deploy", "verify")
RESULT_FILES = ("plan", "approval", "backup", "deploy", "verify", "restore", "drill")
_ICON = {"success": "✅", "failure": "❌", "skipped": "⏭️", "cancelled": "🚫", "pending": "⏳", "blocked": "⛔"}
_SEVERITY_ICON = {"critical": "🟥", "high": "🟧", "medium": "🟨", "low": "🟦", "info": "⬜"}


def marker(workflow: str, environment: str) -> str:
    """The hidden line that identifies our comment for one workflow and environment."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in environment)
    return f"<!-- pgwarden:{workflow}:{safe} -->"


@dataclass
class TargetResults:
    """What one target's job left behind."""

    name: str
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    def outcome(self, step: str) -> str:
        if self.outcomes.get(step):
            return self.outcomes[step]
        doc = self.documents.get(step)
        if doc is None:
            return "skipped"
        return "success" if doc.get("ok", True) else "failure"

    @property
    def backup(self) -> dict[str, Any] | None:
        return self.documents.get("backup")


@dataclass
class RunResults:
    plan: dict[str, Any] | None = None
    targets: list[TargetResults] = field(default_factory=list)


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


def read_document(path: Path, exit_code: int | None = None, log_tail: str = "") -> dict[str, Any] | None:
    """One step's JSON; a step that died without printing JSON becomes a failed result saying so."""
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
    code = "" if exit_code is None else f" (exit code {exit_code})"
    summary = f"pgwarden {path.stem} printed no result{code}"
    if log_tail:
        summary += ": " + log_tail.strip().splitlines()[-1][:300]
    return {"step": path.stem, "ok": False, "summary": summary, "checks": [], "exit_code": exit_code}


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


def load_results(root: Path) -> RunResults:
    """Read a results folder: either one step folder, or one sub-folder per downloaded artifact."""
    results = RunResults()
    folders = [root, *sorted(p for p in root.rglob("*") if p.is_dir())] if root.is_dir() else []
    for folder in folders:
        docs, meta = _read_folder(folder)
        if "plan" in docs and results.plan is None:
            results.plan = docs.pop("plan")
        docs.pop("plan", None)
        if docs or meta:
            name = str(meta.get("target") or (folder.name if folder != root else "default"))
            if name.startswith("pgwarden-migrate-"):
                name = name.rsplit("-", 1)[-1]
            outcomes = {str(k): str(v) for k, v in dict(meta.get("outcomes") or {}).items()}
            results.targets.append(TargetResults(name=name, documents=docs, outcomes=outcomes))
    return results


# --- rendering ------------------------------------------------------------------------------


def cell(value: Any, limit: int = 160) -> str:
    text = " ".join(str("" if value is None else value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(value: Any) -> str:
    text = " ".join(str(value).split()).replace("`", "'")
    return f"`{text}`"


def _size(n: Any) -> str:
    try:
        size = float(n)
    except (TypeError, ValueError):
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "?"
    return f"{s:.1f}s" if s < 120 else f"{int(s // 60)}m{int(s % 60):02d}s"


def plan_blocked(plan: dict[str, Any] | None) -> bool:
    return bool(plan and plan.get("summary", {}).get("blocked"))


def verdict(info: RunInfo, results: RunResults) -> tuple[str, str]:
    """(icon, sentence) for the heading."""
    plan_outcome = info.outcomes.get("plan", "")
    if plan_blocked(results.plan):
        return "⛔", "Blocked by the risk review: nothing was backed up or deployed."
    if plan_outcome == "failure" and results.plan is None:
        return "❌", "The plan step failed before it could review the migrations."
    if info.workflow == "restore":
        t = results.targets[0] if results.targets else TargetResults("default")
        if t.outcome("restore") == "success" and t.outcome("verify") in ("success", "skipped"):
            return "✅", "Restored and verified."
        return "❌", "The restore did not complete: see the steps below."
    refused = [t for t in results.targets if t.outcome("approval") == "failure"]
    if refused:
        reason = (refused[0].documents.get("approval") or {}).get("summary") or "see the job log"
        return "⛔", f"Not approved, nothing was backed up or deployed: {reason}"
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
    plan = info.outcomes.get("plan") or ("success" if results.plan else "skipped")
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
    nodes = [f'  {step}["{step} {_ICON.get(o, "❔")}"]' for step, o in outcomes.items()]
    chain = " --> ".join(outcomes)
    return "```mermaid\nflowchart LR\n" + "\n".join(nodes) + f"\n  {chain}\n```"


def _findings_table(findings: list[dict[str, Any]]) -> list[str]:
    lines = ["| | severity | rule | migration | line | problem | safer alternative |", "|---|---|---|---|---|---|---|"]
    for f in findings:
        sev = str(f.get("severity", "info"))
        lines.append(
            f"| {_SEVERITY_ICON.get(sev, '')} | {sev} | {_code(f.get('rule', '?'))} | {cell(f.get('migration'))} "
            f"| {cell(f.get('line'))} | {cell(f.get('message'))} | {cell(f.get('suggestion'))} |"
        )
    return lines


def _sorted_findings(plan: dict[str, Any]) -> list[dict[str, Any]]:
    def rank(f: dict[str, Any]) -> int:
        sev = str(f.get("severity", "info"))
        return SEVERITY_NAMES.index(sev) if sev in SEVERITY_NAMES else 0

    return sorted((f for f in plan.get("findings", []) if isinstance(f, dict)), key=rank, reverse=True)


def plan_section(plan: dict[str, Any] | None, keep: int | None, full_link: str | None) -> list[str]:
    if plan is None:
        return ["### Risk review", "", "No plan result was found."]
    summary = plan.get("summary", {})
    counts = summary.get("counts", {}) or {}
    migrations = plan.get("migrations", []) or []
    pending = [m for m in migrations if isinstance(m, dict) and m.get("status", "pending") == "pending"]
    lines = ["### Risk review", ""]
    count_text = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITY_NAMES) if counts.get(s)) or "no findings"
    lines.append(
        f"{len(pending)} pending migration(s); {count_text}; highest severity: "
        f"**{summary.get('max_severity') or 'none'}**{' — **blocked**' if summary.get('blocked') else ''}."
    )
    findings = _sorted_findings(plan)
    if findings:
        shown = findings if keep is None else findings[:keep]
        lines += ["", *_findings_table(shown)]
        if len(shown) < len(findings):
            more = len(findings) - len(shown)
            where = f" [full report]({full_link})" if full_link else " the full report in the run's artifacts"
            lines += ["", f"_{more} lower-severity finding(s) not shown here: see{where}._"]
    return lines


def backup_section(targets: list[TargetResults]) -> list[str]:
    rows = []
    for t in targets:
        b = t.backup
        if not b or not b.get("id"):
            continue
        files = [f for f in b.get("files", []) if isinstance(f, dict)]
        size = sum(int(f.get("size") or 0) for f in files) if files else b.get("size")
        sha = ", ".join(_code(str(f.get("sha256", ""))[:16] + "…") for f in files[:3] if f.get("sha256")) or "?"
        store = b.get("store") or b.get("location") or "?"
        verified = "✅" if b.get("verified") else "❌"
        rows.append(f"| {cell(t.name)} | {_code(b['id'])} | {_size(size)} | {sha} | {cell(store)} | {verified} |")
    if not rows:
        return []
    return ["### Backup", "", "| target | id | size | sha256 | store | verified |", "|---|---|---|---|---|---|", *rows]


def _applied_names(deploy: dict[str, Any]) -> list[str]:
    names = []
    for item in deploy.get("applied", []) or []:
        names.append(str(item.get("name", item)) if isinstance(item, dict) else str(item))
    return names


def deploy_section(targets: list[TargetResults]) -> list[str]:
    lines: list[str] = []
    for t in targets:
        d = t.documents.get("deploy")
        if d is None:
            continue
        head = f"**{cell(t.name)}**: " if len(targets) > 1 else ""
        names = _applied_names(d)
        lines.append(f"- {head}{_ICON['success' if d.get('ok') else 'failure']} {cell(d.get('summary'), 300)}")
        lines += [f"  - {_code(n)}" for n in names[:100]]
        if len(names) > 100:
            lines.append(f"  - … and {len(names) - 100} more")
    return ["### Applied migrations", "", *lines] if lines else []


def checks_section(title: str, step: str, targets: list[TargetResults]) -> list[str]:
    lines: list[str] = []
    for t in targets:
        doc = t.documents.get(step)
        if doc is None:
            continue
        prefix = f"{cell(t.name)} · " if len(targets) > 1 else ""
        lines.append(f"{prefix}{_ICON['success' if doc.get('ok') else 'failure']} {cell(doc.get('summary'), 300)}")
        checks = [c for c in doc.get("checks", []) if isinstance(c, dict)]
        if checks:
            lines += ["", "| check | result | detail |", "|---|---|---|"]
            for c in checks[:100]:
                icon = "✅" if c.get("ok") else ("⚠️" if c.get("warning") else "❌")
                lines.append(f"| {cell(c.get('name'))} | {icon} | {cell(c.get('detail'), 200)} |")
        lines.append("")
    return [f"### {title}", "", *lines] if lines else []


def _fleet_table(targets: list[TargetResults]) -> list[str]:
    if len(targets) < 2:
        return []
    lines = ["### Targets", "", "| target | backup | deploy | verify | applied |", "|---|---|---|---|---|"]
    for t in targets:
        d = t.documents.get("deploy") or {}
        lines.append(
            f"| {cell(t.name)} | {_ICON.get(t.outcome('backup'), '❔')} | {_ICON.get(t.outcome('deploy'), '❔')} "
            f"| {_ICON.get(t.outcome('verify'), '❔')} | {len(_applied_names(d))} |"
        )
    return lines


def _timings(info: RunInfo, results: RunResults) -> list[str]:
    rows = []
    for t in results.targets:
        for step in ("backup", "deploy", "verify", "restore", "drill"):
            doc = t.documents.get(step)
            if doc is None:
                continue
            seconds = doc.get("duration_s", doc.get("duration"))
            if seconds is None:
                continue
            label = f"{t.name} · {step}" if len(results.targets) > 1 else step
            extra = ""
            if step == "restore" and info.rto_s:
                within = float(seconds) <= info.rto_s
                extra = f" (RTO {_duration(info.rto_s)}: {'within ✅' if within else 'exceeded ❌'})"
            rows.append(f"| {cell(label)} | {_duration(seconds)}{extra} |")
    return ["### Timings", "", "| step | duration |", "|---|---|", *rows] if rows else []


def restore_command(target: TargetResults, config: str | None) -> str | None:
    b = target.backup
    if not b or not b.get("id"):
        return None
    db = b.get("database") or b.get("dbname") or "DBNAME"
    parts = ["pgwarden restore"]
    if config:
        parts.append(f"--config {config}")
    parts.append(f"--backup-id {b['id']} --confirm {db}")
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
    backups = [t.backup for t in results.targets if t.backup and t.backup.get("verified")]
    if backups:
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
    findings = _sorted_findings(results.plan) if results.plan else []
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
    lines = [marker(info.workflow, info.environment), f"## {icon} pgwarden {title} → `{info.environment}`", ""]
    lines.append(sentence)
    if info.pull_request:
        lines += ["", f"<sub>{cell(info.pull_request, 300)}</sub>"]
    lines += ["", mermaid(info, results), ""]
    sections: list[list[str]] = []
    if info.workflow == "migrate":
        sections.append(plan_section(results.plan, keep, full_link))
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
