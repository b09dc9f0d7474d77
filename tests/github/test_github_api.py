"""The GitHub API calls and how they degrade (issue 11, items 3, 4 and 5), PyGithub against the fake over HTTP.

- environment protection and run approvals read through the API; ``report check-environment``
  exits 4 for an environment nobody has to approve (a warning with ``--require-reviewers warn``),
  records who approved in ``approval.json`` and the audit log;
- a refused call (a fork's read-only token, a job without ``actions: read``) is an error naming
  what was refused and the fix, never a traceback; ``report render --comment`` then keeps the
  report in the step summary with one notice and exits 0;
- the run after a merge (a push) reports to the pull request that brought the commit, and a
  push with nothing pending leaves that comment (and its restore pointer) alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgwarden.audit import AuditLog, read_audit_log
from pgwarden.report import github as gh
from tests.fix_cli import CliResult
from tests.fix_github import FakeGitHub
from tests.fix_pg import TestDatabase
from tests.fix_project import write_sql_project

MERGE_SHA = "feedc0ffee"
MARKER = "<!-- pgwarden:migrate:production -->"


def _env(fake: FakeGitHub, tmp_path: Path, *, event_name: str = "push", event: dict[str, Any] | None = None,
         token: str = "ghs_test", run_id: str = "4242") -> dict[str, str]:
    """The variables a GitHub Actions step sees, all of them set (CI's own must not leak in)."""
    event_path = tmp_path / "event.json"
    if event is None:
        event = {"ref": "refs/heads/main"} if event_name == "push" else {
            "pull_request": {"number": 7, "title": "Add migrations", "head": {"ref": "feature", "sha": "abc123"}}}
    event_path.write_text(json.dumps(event))
    return {
        "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.full_name, "GITHUB_TOKEN": token,
        "GITHUB_EVENT_PATH": str(event_path), "GITHUB_EVENT_NAME": event_name, "GITHUB_SHA": MERGE_SHA,
        "GITHUB_RUN_ID": run_id, "GITHUB_RUN_ATTEMPT": "1", "GITHUB_ACTOR": "dev",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
    }


def _api(fake: FakeGitHub, tmp_path: Path) -> gh.PyGithubApi:
    return gh.PyGithubApi(gh.ActionsEnv.from_environ(_env(fake, tmp_path)))


def _project(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pgwarden.yml").write_text("environment: production\ndeploy:\n  audit_log: audit/audit.jsonl\n")
    return tmp_path


def _results(tmp_path: Path, *, pending: bool, applied: list[str] | None = None) -> Path:
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    status = "pending" if pending else "applied"
    (results / "plan.json").write_text(json.dumps({
        "version": 1, "migrations": [{"name": "0002_add_email", "path": "migrations/0002_add_email.sql",
                                      "status": status}],
        "findings": [], "summary": {"max_severity": None, "blocked": False, "counts": {}}}))
    if applied is not None:
        (results / "deploy.json").write_text(json.dumps({"version": 1, "step": "deploy", "ok": True,
                                                          "summary": "applied", "applied": applied}))
    return results


def _outputs(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "output.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines)


def _annotations(result: CliResult, level: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"::{level}")]


def _writes(fake: FakeGitHub) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


# --- the API client -------------------------------------------------------------------------------


def test_environment_protection_and_run_approvals(github_api: FakeGitHub, tmp_path: Path) -> None:
    github_api.add_environment("production", reviewers=["alice"], teams=["dba"], prevent_self_review=True,
                               wait_timer=5)
    github_api.add_environment("staging")
    github_api.add_run_approval(4242, "alice", "production", comment="looks fine")
    github_api.add_run_approval(4242, "bob", "staging")
    github_api.add_run_approval(4242, "carol", "production", state="rejected")
    api = _api(github_api, tmp_path)

    assert api.environment_protection("production") == gh.Protection(["alice", "team:dba"], True)
    assert api.environment_protection("staging") == gh.Protection([], None)
    assert api.environment_protection("prodution") == gh.Protection([], None, exists=False)
    assert api.run_approvals("4242") == [
        gh.Approval("alice", "production", "approved", "looks fine"),
        gh.Approval("bob", "staging", "approved"),
        gh.Approval("carol", "production", "rejected"),
    ]
    paths = {r.path.split("?")[0] for r in github_api.requests}
    assert "/repos/acme/shop/environments/production" in paths
    assert "/repos/acme/shop/actions/runs/4242/approvals" in paths


@pytest.mark.parametrize(("method", "pattern", "call", "needs"), [
    ("GET", "/environments/", lambda api: api.environment_protection("production"), "`actions: read`"),
    ("GET", "/approvals", lambda api: api.run_approvals("4242"), "`actions: read`"),
    ("GET", "/commits/.*/pulls", lambda api: api.pull_request_for_commit(MERGE_SHA), "`pull-requests: read`"),
    ("POST", "/issues/.*/comments", lambda api: api.create_comment(7, "hello"), "fork"),
])
def test_a_refused_call_names_what_and_how_to_allow_it(
    github_api: FakeGitHub, tmp_path: Path, method: str, pattern: str, call: Callable[[Any], Any], needs: str
) -> None:
    github_api.add_pull(7)
    github_api.add_environment("production", reviewers=["alice"])
    github_api.refuse(method, pattern)
    with pytest.raises(gh.ApiRefused) as refused:
        call(_api(github_api, tmp_path))
    assert refused.value.status == 403
    assert "Resource not accessible by integration" in refused.value.message
    assert needs in (refused.value.hint or "")


def test_the_push_after_a_merge_finds_the_merged_pull_request(github_api: FakeGitHub, tmp_path: Path) -> None:
    github_api.add_pull(5, sha="0ld", merged_as="0ldmerge")
    github_api.add_pull(8, sha="abc123", merged_as=MERGE_SHA)
    github_api.add_pull(9, sha="def456")
    github_api.commit_pulls[MERGE_SHA].insert(0, 9)  # an open PR branched after the merge lists it too
    assert _api(github_api, tmp_path).pull_request_for_commit(MERGE_SHA) == 8


# --- report check-environment ---------------------------------------------------------------------


def test_check_environment_records_who_approved(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                 tmp_path: Path) -> None:
    project = _project(tmp_path)
    github_api.add_environment("production", reviewers=["alice", "bob"], prevent_self_review=True)
    github_api.add_run_approval(4242, "alice", "production")
    github_api.add_run_approval(4241, "bob", "production")  # another run's approval

    done = cli("report", "check-environment", "--results", "results", cwd=project, env=_env(github_api, tmp_path))

    assert done.code == 0, done.output
    approval = json.loads((project / "results" / "approval.json").read_text())
    assert approval["step"] == "approval" and approval["ok"] is True and approval["checked"] is True
    assert approval["environment"] == "production"
    assert approval["required_reviewers"] == ["alice", "bob"] and approval["prevent_self_review"] is True
    assert approval["approved_by"] == ["alice"]
    assert "approved by alice" in approval["summary"]
    assert not _annotations(done, "warning") and not _annotations(done, "error")
    assert "approved by alice" in (tmp_path / "summary.md").read_text()

    log_path = project / "audit" / "audit.jsonl"
    [line] = read_audit_log(log_path)
    assert (line["action"], line["outcome"], line["approved_by"]) == ("approval", "approved", ["alice"])
    assert line["run_id"] == "4242-1" and line["environment"] == "production" and line["actor"] == "dev"
    # The deploy that follows in the same job (same run id) repeats who approved on its lines.
    deploy_log = AuditLog(log_path, "dev", "production", MERGE_SHA, "4242-1", "shop")
    assert deploy_log.write("deploy", "succeeded")["approved_by"] == ["alice"]
    assert "approved_by" not in AuditLog(log_path, "dev", "production", None, "9999-1", "shop").write("deploy", "x")


def test_the_deploy_after_the_check_logs_who_approved(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                      db: TestDatabase, tmp_path: Path) -> None:
    """The migrate job as the workflow runs it, config outside the working directory: check, then deploy."""
    project = tmp_path / "app"
    write_sql_project(project, {"0001_t": "CREATE TABLE t (id int primary key);\n"},
                      extra="environment: production\ndeploy:\n  audit_log: audit/audit.jsonl\n")
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    github_api.add_run_approval(4242, "alice", "production")
    env = {**_env(github_api, tmp_path), "DATABASE_URL": db.url}
    config = str(project / "pgwarden.yml")

    checked = cli("report", "check-environment", "--config", config, "--results", "results", cwd=tmp_path, env=env)
    deployed = cli("deploy", "--config", config, "--no-backup", "--reason", "first deploy", cwd=tmp_path, env=env)

    assert checked.code == 0, checked.output
    assert deployed.code == 0, deployed.output
    lines = read_audit_log(project / "audit" / "audit.jsonl")
    assert lines[0]["action"] == "approval"
    assert lines[-1]["action"] == "deploy" and lines[-1]["outcome"] == "succeeded"
    assert all(line["approved_by"] == ["alice"] for line in lines)


def test_an_environment_nobody_must_approve_stops_the_job(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                           tmp_path: Path) -> None:
    project = _project(tmp_path)
    github_api.add_environment("production", wait_timer=5)  # a wait timer is no reviewer

    refused = cli("report", "check-environment", "--results", "results", cwd=project, env=_env(github_api, tmp_path))

    assert refused.code == 4, refused.output
    assert "environment 'production' has no required reviewers" in refused.stderr
    assert "Required reviewers" in refused.stderr  # the hint says where to set them
    assert len(_annotations(refused, "error")) == 1
    approval = json.loads((project / "results" / "approval.json").read_text())
    assert approval["ok"] is False and approval["required_reviewers"] == [] and approval["approved_by"] == []
    assert read_audit_log(project / "audit" / "audit.jsonl")[0]["outcome"] == "unprotected"
    assert "Traceback" not in refused.output

    warned = cli("report", "check-environment", "--require-reviewers", "warn", "--results", "results",
                 cwd=project, env=_env(github_api, tmp_path))
    assert warned.code == 0, warned.output
    [warning] = _annotations(warned, "warning")
    assert "has no required reviewers" in warning
    assert json.loads((project / "results" / "approval.json").read_text())["ok"] is True


def test_a_misspelt_environment_is_not_protected(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                 tmp_path: Path) -> None:
    github_api.add_environment("production", reviewers=["alice"])
    done = cli("report", "check-environment", "--environment", "prodution", "--results", "results",
               cwd=_project(tmp_path), env=_env(github_api, tmp_path))
    assert done.code == 4
    assert "environment 'prodution' does not exist" in done.stderr


def test_self_review_and_a_missing_approval_are_warnings(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                          tmp_path: Path) -> None:
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=False)
    done = cli("report", "check-environment", "--results", "results", cwd=_project(tmp_path),
               env=_env(github_api, tmp_path))
    assert done.code == 0, done.output
    warnings = "\n".join(_annotations(done, "warning"))
    assert "Prevent self-review" in warnings
    assert "no approval of this run" in warnings


@pytest.mark.parametrize("mode", ["fail", "warn"])
def test_without_actions_read_the_check_says_what_to_add(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                         tmp_path: Path, mode: str) -> None:
    project = _project(tmp_path)
    github_api.add_environment("production", reviewers=["alice"])
    github_api.refuse("GET", "/environments/")

    done = cli("report", "check-environment", "--require-reviewers", mode, "--results", "results",
               cwd=project, env=_env(github_api, tmp_path))

    assert done.code == (4 if mode == "fail" else 0), done.output
    assert "Traceback" not in done.output
    assert "add `actions: read` to the job's permissions" in done.output
    approval = json.loads((project / "results" / "approval.json").read_text())
    assert approval["checked"] is False and approval["ok"] is (mode == "warn")
    assert read_audit_log(project / "audit" / "audit.jsonl")[0]["outcome"] == "unchecked"


def test_check_environment_without_a_name_is_a_usage_error(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                           tmp_path: Path) -> None:
    done = cli("report", "check-environment", cwd=tmp_path, env=_env(github_api, tmp_path))
    assert done.code == 2
    assert "--environment" in done.stderr


# --- report render --comment ----------------------------------------------------------------------


def _render(cli: Callable[..., CliResult], project: Path, env: dict[str, str], stage: str = "final") -> CliResult:
    return cli("report", "render", "--stage", stage, "--results", "results", "--comment", cwd=project, env=env)


def test_a_fork_pull_request_gets_its_report_in_the_summary(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                             tmp_path: Path) -> None:
    project = _project(tmp_path)
    _results(project, pending=True)
    github_api.add_pull(7)
    github_api.as_fork()

    done = _render(cli, project, _env(github_api, tmp_path, event_name="pull_request"), stage="plan")

    assert done.code == 0, done.output
    assert "Traceback" not in done.output
    [notice] = _annotations(done, "notice")
    assert "no PR comment" in notice and "fork" in notice and "pull-requests: write" in notice
    summary = (tmp_path / "summary.md").read_text()
    assert "pgwarden migrate → `production`" in summary and summary.count(MARKER) == 1  # the comment, once
    assert github_api.comments.get(7, []) == []
    assert "comment-url" not in _outputs(tmp_path)


def test_without_a_token_the_report_stays_in_the_summary(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                          tmp_path: Path) -> None:
    project = _project(tmp_path)
    _results(project, pending=True)
    done = _render(cli, project, _env(github_api, tmp_path, event_name="pull_request", token=""), stage="plan")
    assert done.code == 0, done.output
    [notice] = _annotations(done, "notice")
    assert "GITHUB_TOKEN" in notice
    assert github_api.requests == []
    assert "pgwarden migrate → `production`" in (tmp_path / "summary.md").read_text()


def test_the_deploying_push_updates_the_merged_pull_requests_comment(
    cli: Callable[..., CliResult], github_api: FakeGitHub, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    github_api.add_pull(8, sha="abc123", merged_as=MERGE_SHA)
    ours = github_api.add_comment(8, f"{MARKER}\nthe plan: awaiting approval", author="github-actions[bot]")
    _results(project, pending=True, applied=["0002_add_email"])
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    github_api.add_run_approval(4242, "alice", "production")
    checked = cli("report", "check-environment", "--results", "results", cwd=project, env=_env(github_api, tmp_path))
    assert checked.code == 0, checked.output

    done = _render(cli, project, _env(github_api, tmp_path))

    assert done.code == 0, done.output
    [comment] = github_api.comments[8]
    assert comment["id"] == ours and "awaiting approval" not in comment["body"]
    assert "@alice" in comment["body"]  # who approved, from approval.json
    assert _writes(github_api) == [f"PATCH /repos/acme/shop/issues/comments/{ours}"]
    assert _outputs(tmp_path)["comment-url"] == f"https://github.com/acme/shop/pull/8#issuecomment-{ours}"


def test_a_push_with_nothing_pending_leaves_the_comment_alone(
    cli: Callable[..., CliResult], github_api: FakeGitHub, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    github_api.add_pull(8, sha="abc123", merged_as=MERGE_SHA)
    before = f"{MARKER}\ndeployed; restore with pgwarden restore --backup-id 20260101T000000Z-shop"
    github_api.add_comment(8, before, author="github-actions[bot]")
    _results(project, pending=False)

    done = _render(cli, project, _env(github_api, tmp_path))

    assert done.code == 0, done.output
    assert github_api.comments[8][0]["body"] == before
    assert github_api.requests == []
    assert "left as it is" in done.stderr
    assert not _annotations(done, "notice")


def test_a_refused_commit_lookup_degrades_like_a_fork(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                       tmp_path: Path) -> None:
    project = _project(tmp_path)
    github_api.add_pull(8, sha="abc123", merged_as=MERGE_SHA)
    github_api.refuse("GET", "/commits/.*/pulls")
    _results(project, pending=True, applied=["0002_add_email"])
    done = _render(cli, project, _env(github_api, tmp_path))
    assert done.code == 0, done.output
    [notice] = _annotations(done, "notice")
    assert "`pull-requests: read`" in notice
    assert _writes(github_api) == []


def test_a_failed_deploy_on_a_push_still_reports(cli: Callable[..., CliResult], github_api: FakeGitHub,
                                                 tmp_path: Path) -> None:
    """Nothing applied, but the deploy failed: the PR must hear about it."""
    project = _project(tmp_path)
    github_api.add_pull(8, sha="abc123", merged_as=MERGE_SHA)
    results = _results(project, pending=True)
    (results / "deploy.json").write_text(json.dumps({
        "version": 1, "step": "deploy", "ok": False, "exit_code": 1,
        "error": {"kind": "failed", "message": "migration 0002_add_email failed: syntax error", "hint": None}}))
    done = _render(cli, project, _env(github_api, tmp_path))
    assert done.code == 0, done.output
    [comment] = github_api.comments[8]
    assert comment["body"].startswith(MARKER)


def test_a_restore_reports_to_the_pull_request_it_was_asked_for(
    cli: Callable[..., CliResult], github_api: FakeGitHub, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    github_api.add_pull(7)
    theirs = github_api.add_comment(7, f"{MARKER}\nthe deploy", author="github-actions[bot]")
    (project / "results").mkdir()
    env = _env(github_api, tmp_path, event_name="workflow_dispatch", event={"inputs": {"pull-request": "7"}})

    done = cli("report", "render", "--stage", "restore", "--workflow", "restore", "--results", "results",
               "--comment", "--pull-request", "7", "--reason", "bad data in orders", cwd=project, env=env)

    assert done.code == 0, done.output
    ours = [c for c in github_api.comments[7] if c["id"] != theirs]
    assert len(ours) == 1 and ours[0]["body"].startswith("<!-- pgwarden:restore:production -->")
    assert "bad data in orders" in ours[0]["body"]
    assert next(c for c in github_api.comments[7] if c["id"] == theirs)["body"] == f"{MARKER}\nthe deploy"
    assert _outputs(tmp_path)["comment-url"].endswith(f"#issuecomment-{ours[0]['id']}")

    blank = cli("report", "render", "--stage", "restore", "--workflow", "restore", "--results", "results",
                "--comment", "--pull-request", "", cwd=project, env=env)
    assert blank.code == 0 and "no pull request for this workflow_dispatch" in blank.stderr
    bad = cli("report", "render", "--results", "results", "--pull-request", "seven", cwd=project, env=env)
    assert bad.code == 2 and "seven" in bad.stderr


def test_collect_finds_the_audit_log_of_a_config_outside_the_working_directory(
    cli: Callable[..., CliResult], github_api: FakeGitHub, tmp_path: Path
) -> None:
    """migrate.yml passes --config to every step: collect then copies that project's audit log."""
    project = _project(tmp_path / "app")
    github_api.add_environment("production", reviewers=["alice"])
    github_api.add_run_approval(4242, "alice", "production")
    env = _env(github_api, tmp_path)
    config = str(project / "pgwarden.yml")
    assert cli("report", "check-environment", "--config", config, "--results", "run", cwd=tmp_path, env=env).code == 0
    done = cli("report", "collect", "--config", config, "--results", "run", "--outcome", "environment=success",
               cwd=tmp_path, env=env)
    assert done.code == 0, done.output
    [line] = read_audit_log(tmp_path / "run" / "audit.jsonl")
    assert line["approved_by"] == ["alice"]
    assert json.loads((tmp_path / "run" / "outcomes.json").read_text())["outcomes"] == {"environment": "success"}


def test_a_pull_request_review_check_after_the_environment_check_keeps_the_approver(
    cli: Callable[..., CliResult], github_api: FakeGitHub, tmp_path: Path
) -> None:
    """migrate.yml with approval: pr-review runs both checks into one approval.json."""
    project = _project(tmp_path)
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    github_api.add_run_approval(4242, "alice", "production")
    github_api.add_pull(8, author="dev", sha="abc123", merged_as=MERGE_SHA)
    github_api.add_review(8, "bob")
    env = _env(github_api, tmp_path)
    assert cli("report", "check-environment", "--results", "results", cwd=project, env=env).code == 0

    reviewed = cli("report", "check-approval", "--results", "results", cwd=project, env={**env, "APPROVERS": "bob"})

    assert reviewed.code == 0, reviewed.output
    approval = json.loads((project / "results" / "approval.json").read_text())
    assert approval["ok"] is True and approval["approved_by"] == ["alice"]
    assert "approved by alice" in approval["summary"] and "approved by bob" in approval["summary"]

    refused = cli("report", "check-approval", "--results", "results", cwd=project, env={**env, "APPROVERS": "carol"})
    assert refused.code == 4
    approval = json.loads((project / "results" / "approval.json").read_text())
    assert approval["ok"] is False and approval["approved_by"] == ["alice"]
    assert approval["summary"].startswith("PR #8: needs an approving review from one of carol")
