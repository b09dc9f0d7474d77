"""`pgwarden report step`: what an action reports after its command ran (outputs, summary, annotations)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pgwarden.records import Category, Finding, Migration, MigrationStatus, PlanReport, Severity
from pgwarden.report.annotations import MAX_ANNOTATIONS, annotation_lines
from tests.fix_cli import CliResult
from tests.github import comment_cases as cases

Cli = Callable[..., CliResult]


def _report_step(cli: Cli, results: Path, step: str, code: int) -> tuple[CliResult, str, str]:
    summary, outputs = results / "summary.md", results / "outputs.txt"
    result = cli("report", "step", step, "--results", str(results), "--exit-code", str(code),
                 env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    assert result.code == 0, result.stderr
    return result, summary.read_text(), outputs.read_text()


def test_the_summary_of_a_refusal_says_why_and_what_to_do(
    cli: Cli, cli_subprocess: Cli, sql_project: Path
) -> None:
    # What actions/_lib/run.sh does: the command's stdout is the step's result, stderr its log.
    results = sql_project / ".pgwarden" / "run"
    results.mkdir(parents=True)
    deploy = cli_subprocess("deploy", "--format", "json", "--database-url", "postgresql://app:pw-secret@127.0.0.1:1/shop",
                            cwd=sql_project)
    assert deploy.code == 4
    (results / "deploy.json").write_text(deploy.stdout)
    (results / "deploy.log").write_text(deploy.stderr)

    result, summary, outputs = _report_step(cli, results, "deploy", 4)
    assert "printed no result" not in summary
    assert "**refused** (exit code 4)" in summary
    assert "no verified backup of shop in file://./backups" in summary
    assert "**hint:** run `pgwarden backup` first and pass --backup-id" in summary
    assert "ok=false" in outputs.splitlines()
    error = next(line for line in result.stdout.splitlines() if line.startswith("::error "))
    assert "no verified backup of shop" in error and "hint: run `pgwarden backup` first" in error
    assert "pw-secret" not in summary + result.output


def _finding(n: int, *, file: str, line: int, severity: Severity = Severity.MEDIUM) -> Finding:
    return Finding(rule="add-column-default", category=Category.BLOCKING_LOCK, severity=severity,
                   message=f"finding {n}", suggestion="do it the safe way", migration="abc123_add",
                   file=file, line=line)


def _write_plan(results: Path, findings: list[Finding]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    report = PlanReport([Migration("abc123_add", "versions/abc123_add.py", MigrationStatus.PENDING)], findings)
    (results / "plan.json").write_text(json.dumps(report.to_json()))


def test_plan_annotations_point_at_lines_that_exist_in_the_file(cli: Cli, tmp_path: Path) -> None:
    # Alembic renders its SQL from the .py file: line 7 of that SQL is not line 7 of the file.
    results = tmp_path / "run"
    _write_plan(results, [_finding(1, file="versions/abc123_add.py", line=7),
                          _finding(2, file="migrations/0002.sql", line=3)])
    result, _, _ = _report_step(cli, results, "plan", 0)
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(lines) == 2
    py = next(line for line in lines if "abc123_add.py" in line)
    assert "file=versions/abc123_add.py," in py and "line=" not in py
    sql = next(line for line in lines if "0002.sql" in line)
    assert "file=migrations/0002.sql,line=3," in sql


def test_plan_annotations_are_capped_like_plan_s_own(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "run"
    findings = [_finding(n, file="migrations/0002.sql", line=n) for n in range(MAX_ANNOTATIONS + 20)]
    findings.append(_finding(999, file="migrations/0002.sql", line=999, severity=Severity.CRITICAL))
    _write_plan(results, findings)
    result, _, _ = _report_step(cli, results, "plan", 3)
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    findings_annotated = [line for line in lines if "title=pgwarden add-column-default" in line]
    assert len(findings_annotated) == MAX_ANNOTATIONS
    assert "finding 999" in findings_annotated[0]  # highest severity first
    # ...and one line saying the plan is blocked, in words (not the summary's dict).
    verdict = [line for line in lines if line.startswith("::error title=pgwarden plan::")]
    head = "::error title=pgwarden plan::pgwarden plan"
    assert verdict == [f"{head}: blocked: {len(findings)} findings, highest critical"]



@pytest.mark.parametrize("fail_on", ["critical", "medium", "never"])
def test_plan_annotations_have_the_levels_plan_itself_gives(cli: Cli, tmp_path: Path, fail_on: str) -> None:
    # One policy: the action's annotations of a plan document are plan's own, threshold included.
    findings = [_finding(1, file="migrations/0002.sql", line=1, severity=Severity.HIGH),
                _finding(2, file="migrations/0002.sql", line=2, severity=Severity.MEDIUM)]
    report = PlanReport([Migration("0002", "migrations/0002.sql")], findings, fail_on=fail_on)
    results = tmp_path / "run"
    results.mkdir()
    (results / "plan.json").write_text(json.dumps(report.to_json()))
    result, _, _ = _report_step(cli, results, "plan", 3 if report.blocked else 0)
    lines = [line for line in result.stdout.splitlines() if "title=pgwarden add-column-default" in line]
    assert lines == annotation_lines(report)


# --- the reusable workflows' own subcommands -----------------------------------------------------


def test_expand_targets_writes_the_targets_output(cli: Cli, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.txt"
    result = cli("report", "expand-targets", cwd=tmp_path,
                 env={"GITHUB_OUTPUT": str(outputs), "TARGETS": '["eu", {"name": "us", "secret": "US_DB"}]'})
    assert result.code == 0, result.stderr
    assert outputs.read_text() == ('targets=[{"name":"eu","secret":"DATABASE_URL_EU","config":""},'
                                   '{"name":"us","secret":"US_DB","config":""}]\n')
    bad = cli("report", "expand-targets", cwd=tmp_path, env={"GITHUB_OUTPUT": str(outputs), "TARGETS": '["e u"]'})
    assert bad.code == 2 and "targets[0].name" in bad.stderr


def test_collect_then_locate_dump(cli: Cli, sql_project: Path) -> None:
    results = sql_project / ".pgwarden" / "run"
    result = cli("report", "collect", "--results", str(results), "--target", "eu",
                 "--outcome", "backup=success", "--outcome", "deploy=failure", cwd=sql_project)
    assert result.code == 0, result.stderr
    assert json.loads((results / "outcomes.json").read_text()) == {
        "target": "eu", "outcomes": {"backup": "success", "deploy": "failure"}}

    outputs = sql_project / "outputs.txt"
    missing = cli("report", "locate-dump", "--results", str(results), cwd=sql_project,
                  env={"GITHUB_OUTPUT": str(outputs)})
    assert missing.code == 1 and "no backup result to locate" in missing.stderr
    (results / "backup.json").write_text(json.dumps({"id": "20261201T000000Z-ab12"}))
    found = cli("report", "locate-dump", "--results", str(results), cwd=sql_project,
                env={"GITHUB_OUTPUT": str(outputs)})
    assert found.code == 0, found.stderr
    assert outputs.read_text() == f"dump-path={sql_project / 'backups' / '20261201T000000Z-ab12'}\n"


def test_render_rebuilds_the_report_from_a_results_folder(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "run"
    _write_plan(results, [_finding(1, file="migrations/0002.sql", line=3)])
    result = cli("report", "render", "--stage", "plan", "--results", str(results), "--output", "report.md",
                 cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": ""})
    assert result.code == 0, result.stderr
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("<!-- pgwarden:migrate:default -->") and "finding 1" in text


def test_report_needs_a_subcommand(cli: Cli) -> None:
    result = cli("report")
    assert result.code == 2 and "SUBCOMMAND" in result.stderr


def test_plan_outputs_say_how_many_are_pending_and_on_what_basis(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "run"
    results.mkdir()
    report = PlanReport([Migration("0002", "migrations/0002.sql"), Migration("0001", "migrations/0001.sql",
                                                                             MigrationStatus.APPLIED)],
                        [], basis="diff", base="origin/main@1a2b3c4")
    (results / "plan.json").write_text(json.dumps(report.to_json()))
    _, summary, outputs = _report_step(cli, results, "plan", 0)
    assert {"pending-count=1", "basis=diff", "blocked=false"} <= set(outputs.splitlines())
    # The plan step's summary is the review's one copy: basis and migrations, no runbook checklist.
    assert "**No live data**: pending = the migrations added or changed vs `origin/main@1a2b3c4`" in summary
    assert "· `0002`" in summary and "Runbook checklist" not in summary


def test_a_refusal_that_printed_no_json_keeps_its_whole_message_and_hint(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "run"
    results.mkdir()
    (results / "deploy.json").write_text("")
    (results / "deploy.log").write_text(
        "deploying to app@db:5432/shop\npgwarden deploy: the prisma history records a failed migration: "
        "0007_x; its changes may be half applied\n  hint: npx prisma migrate resolve --rolled-back 0007_x\n")
    result, _, _ = _report_step(cli, results, "deploy", 4)
    error = next(line for line in result.stdout.splitlines() if line.startswith("::error "))
    assert error.startswith("::error title=pgwarden deploy::")
    assert "records a failed migration: 0007_x; its changes may be half applied" in error
    assert "hint: npx prisma migrate resolve --rolled-back 0007_x" in error
    assert "printed no result (exit code 4)" not in error


def test_annotation_titles_and_messages_are_text_never_a_dict(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "run"
    results.mkdir()
    # A plan document pgwarden cannot read back (a finding without its rule): the step failed.
    (results / "plan.json").write_text(json.dumps({"findings": [{"severity": "high"}], "summary": {"blocked": True}}))
    result, summary, _ = _report_step(cli, results, "plan", 1)
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert lines and all("{" not in line for line in lines), lines
    assert "plan.json is not a result pgwarden can read" in summary


def test_a_failed_deploy_s_summary_says_the_error_what_changed_and_the_next_step(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "run"
    results.mkdir()
    (results / "deploy.json").write_text(json.dumps(cases.deploy_document(False)))
    _, summary, outputs = _report_step(cli, results, "deploy", 1)
    assert "DETAIL: Key (slug)=(hello-world) is duplicated." in summary  # the tool's error, whole
    assert f"**`production` changed**: 1 migration applied (`{cases.DROP}`)" in summary
    assert f"`npx prisma migrate resolve --rolled-back {cases.BACKFILL}`" in summary
    assert f"pgwarden restore --backup-id {cases.BACKUP_ID} --confirm shop" in summary
    assert summary.count("Key (slug)=(hello-world)") == 1, "said once, not in a summary line and again below"
    assert "applied-count=1" in outputs.splitlines()
