"""`pgwarden report`: turn step results into GitHub outputs, summaries, annotations and the PR comment.

The actions and reusable workflows call it; it is also how a run's report is rebuilt locally
from a downloaded artifact (``pgwarden report --results DIR --output report.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pgwarden.cli.common import Command, Context
from pgwarden.errors import ConfigError, OperationFailed, SafetyRefusal
from pgwarden.redact import redact
from pgwarden.report import comment as rc
from pgwarden.report import github as gh
from pgwarden.report.annotations import annotation

MODES = ("step", "expand_targets", "check_approval", "collect", "locate_dump")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--step", metavar="NAME", help="after one action: outputs, step summary, annotations")
    mode.add_argument("--stage", choices=("plan", "final", "restore", "drill"), help="render the run's report")
    mode.add_argument("--expand-targets", action="store_true", help="validate $TARGETS (fleet mode) into an output")
    mode.add_argument("--check-approval", action="store_true", help="approval: pr-review; exit 4 when missing")
    mode.add_argument("--collect", action="store_true", help="save outcomes and copy the audit log into --results")
    mode.add_argument("--locate-dump", action="store_true", help="output dump-path for a file:// store")
    parser.add_argument("--results", metavar="DIR", default=".pgwarden/run", help="results folder")
    parser.add_argument("--exit-code", type=int, default=None, help="(--step) the command's exit code")
    parser.add_argument("--workflow", default="migrate", help="workflow name in the comment marker")
    parser.add_argument("--environment", default="", help="environment name")
    parser.add_argument("--target", default="default", help="(--collect) target name")
    parser.add_argument("--outcome", action="append", default=[], metavar="STEP=RESULT",
                        help="a step's outcome as GitHub saw it (repeatable)")
    parser.add_argument("--comment", action="store_true", help="create or update the PR comment")
    parser.add_argument("--output", metavar="FILE", help="also write the report here")


def _outcomes(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--outcome {pair!r}: expected STEP=RESULT")
        out[key.strip()] = value.strip()
    return out


def _run(ctx: Context) -> int:
    args = ctx.args
    env = gh.ActionsEnv.from_environ()
    if args.step:
        return _after_step(ctx, env, args.step)
    if args.expand_targets:
        return _expand_targets(ctx, env)
    if args.check_approval:
        return _check_approval(ctx, env)
    if args.collect:
        return _collect(ctx)
    if args.locate_dump:
        return _locate_dump(ctx, env)
    return _render(ctx, env, args.stage or "final")


# --- after one action ---------------------------------------------------------------------------


def _after_step(ctx: Context, env: gh.ActionsEnv, step: str) -> int:
    results = Path(ctx.args.results)
    path = results / f"{step}.json"
    log = results / f"{step}.log"
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.is_file() else ""
    found = rc.read_document(path, ctx.args.exit_code, tail)
    doc: dict[str, Any] = found if found is not None else {
        "step": step, "ok": False, "summary": f"pgwarden {step} left no result", "checks": []}
    if ctx.args.exit_code not in (None, 0) and step != "plan":
        doc["ok"] = False
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    outputs = {"report-path": str(path), "ok": str(ctx.args.exit_code in (None, 0)).lower()}
    if step == "plan":
        raw = doc.get("summary")
        summary: dict[str, Any] = raw if isinstance(raw, dict) else {}
        outputs["max-severity"] = str(summary.get("max_severity") or "")
        outputs["blocked"] = str(bool(summary.get("blocked")) or ctx.args.exit_code == 3).lower()
        for finding in doc.get("findings", []) or []:
            level = "error" if finding.get("severity") in ("high", "critical") else "warning"
            print(annotation(level, f"{finding.get('message', '')} — {finding.get('suggestion', '')}",
                                file=finding.get("file"), line=finding.get("line"),
                                title=f"pgwarden {finding.get('rule', '')} ({finding.get('severity', '')})"))
    if doc.get("id") is not None:
        outputs["backup-id"] = str(doc["id"])
    elif isinstance(doc.get("backup"), dict) and doc["backup"].get("id"):
        outputs["backup-id"] = str(doc["backup"]["id"])
    elif doc.get("backup_id"):
        outputs["backup-id"] = str(doc["backup_id"])
    if step == "deploy":
        outputs["applied-count"] = str(len(doc.get("applied", []) or []))
    gh.write_outputs(env, outputs)
    gh.append_summary(env, _step_markdown(step, doc, ctx.args.exit_code))
    if doc.get("ok") is False or ctx.args.exit_code not in (None, 0):
        print(annotation("error", f"pgwarden {step}: {doc.get('summary', 'failed')}", title=f"pgwarden {step}"))
    return 0


def _step_markdown(step: str, doc: dict[str, Any], exit_code: int | None) -> str:
    results = rc.RunResults()
    if step == "plan":
        results.plan = doc
        lines = rc.plan_section(doc, None, None)
        return "\n".join([f"## pgwarden plan (exit {exit_code})", "", *lines[2:]])
    results.targets = [rc.TargetResults("default", {step: doc})]
    icon = "✅" if doc.get("ok", True) and exit_code in (None, 0) else "❌"
    body = [f"## {icon} pgwarden {step}", "", rc.cell(doc.get("summary", ""), 2000)]
    body += rc.backup_section(results.targets) if step in ("backup",) else []
    body += rc.deploy_section(results.targets) if step == "deploy" else []
    if step in ("verify", "restore", "drill"):
        body += rc.checks_section("Checks", step, results.targets)
    return "\n".join(body)


# --- fleet targets ------------------------------------------------------------------------------


def expand_targets(text: str) -> list[dict[str, str]]:
    """Fleet mode's ``targets`` input, validated: names unique and safe, each with a secret name."""
    if not text.strip():
        return [{"name": "default", "secret": "DATABASE_URL", "config": ""}]
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


def _expand_targets(ctx: Context, env: gh.ActionsEnv) -> int:
    targets = expand_targets(os.environ.get("TARGETS", ""))
    gh.write_outputs(env, {"targets": json.dumps(targets, separators=(",", ":"))})
    ctx.note("targets: " + ", ".join(t["name"] for t in targets))
    return 0


# --- approval ----------------------------------------------------------------------------------


def _check_approval(ctx: Context, env: gh.ActionsEnv) -> int:
    approvers = [a.strip() for a in os.environ.get("APPROVERS", "").split(",") if a.strip()]
    approvers = approvers or list(ctx.settings.deploy.approvers)
    decision = gh.check_pull_request_approval(env, approvers)
    if ctx.args.results:
        # Recorded like a step result, so the PR comment can say why nothing ran.
        results = Path(ctx.args.results)
        results.mkdir(parents=True, exist_ok=True)
        (results / "approval.json").write_text(json.dumps(
            {"step": "approval", "ok": decision.approved, "summary": redact(decision.message)}, indent=2),
            encoding="utf-8")
    if not decision.approved:
        gh.append_summary(env, f"## ⛔ approval missing\n\n{decision.message}")
        print(annotation("error", decision.message, title="pgwarden approval"))
        raise SafetyRefusal(decision.message, hint="approve the pull request, then re-run the failed jobs")
    ctx.note(decision.message)
    return 0


# --- collecting artifacts ---------------------------------------------------------------------


def _collect(ctx: Context) -> int:
    results = Path(ctx.args.results)
    results.mkdir(parents=True, exist_ok=True)
    meta = {"target": ctx.args.target, "outcomes": _outcomes(ctx.args.outcome)}
    (results / "outcomes.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    audit = ctx.settings.resolve_path(ctx.settings.deploy.audit_log)
    if audit.is_file():
        shutil.copyfile(audit, results / "audit.jsonl")
    reports = ctx.settings.resolve_path(ctx.settings.report.dir)
    if reports.is_dir():
        shutil.copytree(reports, results / "reports", dirs_exist_ok=True)
    return 0


def _locate_dump(ctx: Context, env: gh.ActionsEnv) -> int:
    doc = rc.read_document(Path(ctx.args.results) / "backup.json")
    store = ctx.settings.backup.store
    if not doc or not doc.get("id"):
        raise OperationFailed("no backup result to locate")
    if not store.startswith("file://"):
        ctx.note(f"the dump is in {store}, not on this runner: nothing to upload")
        return 0
    base = ctx.settings.resolve_path(store[len("file://"):])
    path = base / str(doc["id"])
    gh.write_outputs(env, {"dump-path": str(path)})
    return 0


# --- the report ---------------------------------------------------------------------------------


def _render(ctx: Context, env: gh.ActionsEnv, stage: str) -> int:
    results = rc.load_results(Path(ctx.args.results))
    info = rc.RunInfo(
        workflow=ctx.args.workflow,
        environment=ctx.args.environment or ctx.settings.environment or "default",
        stage=stage,
        outcomes=_outcomes(ctx.args.outcome),
        run_url=env.run_url,
        restore_workflow_url=env.workflow_url("restore.yml"),
        pull_request=env.pull_request_label(),
        rto_s=ctx.settings.restore.rto,
        config=getattr(ctx.args, "config", None),
    )
    text = rc.render_report(info, results, full_link=env.run_url)
    if ctx.args.output:
        ctx.write_output(text, ctx.args.output)
    gh.append_summary(env, text)
    if ctx.args.comment:
        _comment(ctx, env, info, text)
    if not ctx.args.output and not env.step_summary:
        print(text, file=ctx.stdout)
    return 0


def _comment(ctx: Context, env: gh.ActionsEnv, info: rc.RunInfo, text: str) -> None:
    if not (env.token and env.repository):
        ctx.note("no GITHUB_TOKEN or GITHUB_REPOSITORY: the PR comment is skipped (the step summary has it all)")
        return
    api = gh.PyGithubApi(env)
    number = gh.pull_request_number(env, api)
    if number is None:
        ctx.note(f"no pull request for this {env.event_name or 'run'}: the PR comment is skipped")
        return
    action, posted = gh.upsert_comment(api, number, rc.marker(info.workflow, info.environment), text)
    ctx.note(f"PR #{number}: comment {posted.id} {action}")


COMMAND = Command(
    name="report",
    help="GitHub reporting: step outputs and summaries, the PR comment, approvals (used by the actions)",
    example="pgwarden report --stage final --results .pgwarden/results --environment production --comment",
    add_arguments=_add_arguments,
    run=_run,
    formats=("text",),
)
