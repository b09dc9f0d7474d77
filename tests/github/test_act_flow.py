"""The flow teams ship with, under act: review on the pull request, deploy after the merge, undo from the comment.

Each scenario runs the examples a user copies (examples/workflows/*.yml) as written, against a
real PostgreSQL and the fake GitHub API; only the jobs run on the runner instead of the image.
The steps of one story share one test (and one database), so the act runs are as few as the
story allows: each run is 5-25 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.fix_github import FakeGitHub
from tests.fix_pg import TestDatabase
from tests.github.act_harness import ActRun, Consumer, cli

pytestmark = [pytest.mark.act, pytest.mark.slow, pytest.mark.usefixtures("act_available")]

INIT = ("create table items (id int primary key, name text not null, price numeric);\n"
        "insert into items values (1, 'a', 1.5), (2, 'b', 2.5);\n")
DROP_NAME = "alter table items drop column name;\n"
MARKER = "<!-- pgwarden:migrate:production -->"
#: act's run id (it numbers runs from 1): what the approvals endpoint is asked about.
ACT_RUN_ID = 1
REPOSITORY = {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}, "fork": False}


def pr_event(number: int, head_sha: str, branch: str, *, fork: bool = False) -> dict[str, Any]:
    head_repo = {"full_name": "mallory/shop", "fork": True} if fork else {"full_name": "acme/shop", "fork": False}
    return {"action": "synchronize", "number": number, "repository": REPOSITORY,
            "pull_request": {"number": number, "title": f"PR {number}", "head": {"ref": branch, "sha": head_sha,
                                                                             "repo": head_repo},
                             "base": {"ref": "main", "repo": REPOSITORY}}}


def push_event(before: str, after: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "before": before, "after": after, "repository": REPOSITORY}


def our_comments(fake: FakeGitHub, number: int) -> list[dict[str, Any]]:
    return [c for c in fake.comments.get(number, []) if MARKER in c["body"]]


def column_exists(db: TestDatabase, column: str) -> bool:
    return bool(db.scalar("select count(*) from information_schema.columns "
                          f"where table_name = 'items' and column_name = '{column}'"))


def backups(app: Consumer) -> set[str]:
    return {p.name for p in app.store.iterdir()}


def writes(fake: FakeGitHub, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests[since:] if r.method in ("POST", "PATCH", "PUT", "DELETE")]


def assert_ok(run: ActRun) -> None:
    assert run.returncode == 0, run.explain()
    assert "Traceback" not in run.output, run.explain()


def test_review_on_the_pr_deploy_after_the_merge_then_back_up_and_restore(
    tmp_path: Path, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    db = secret_db
    # A shop whose first migration was deployed long ago (by pgwarden, outside this story).
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT})
    config = app.path / "pgwarden.yml"
    config.write_text(config.read_text().replace("backup:\n", "backup:\n  retention: {days: 0, keep_last: 2}\n"))
    app.commit("keep the two newest backups")
    app.example_workflow("migrate-sql.yml", "migrate.yml")
    app.example_workflow("backup.yml")
    app.example_workflow("restore.yml")
    app.example_workflow("drill.yml")
    app.publish()
    first_backup = json.loads(cli(app, db, "backup", "--format", "json"))["id"]
    cli(app, db, "deploy", "--backup-id", first_backup)
    assert column_exists(db, "name")
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    github_api.add_run_approval(ACT_RUN_ID, "alice", "production")
    deploy_secrets = {"DATABASE_URL": db.url}  # the environment's secret; no PLAN_DATABASE_URL yet

    # 1. The PR drops a column of that table. No live data: pending = what the PR adds.
    app.git("checkout", "-q", "-b", "drop-name")
    app.add_migration("0002_drop_name.sql", DROP_NAME)
    pr_head = app.head()
    github_api.add_pull(7, branch="drop-name", sha=pr_head)
    before_pr = len(backups(app))
    review = app.run(tmp_path / "pr", "pull_request", "migrate.yml", pr_event(7, pr_head, "drop-name"),
                     deploy_secrets, github_api.url)

    assert review.returncode != 0, "a blocked plan fails the check"
    assert "Traceback" not in review.output, review.explain()
    assert not review.job_ran("migrate ("), "a pull request is reviewed, never deployed"
    assert column_exists(db, "name") and len(backups(app)) == before_pr
    [comment] = our_comments(github_api, 7)
    body = comment["body"]
    assert "drop-column" in body and "items.name" in body
    assert "No live data" in body and "PLAN_DATABASE_URL" in body, "the comment says the review was blind"

    # 2. Reviewed: the team waives it with a reason, merges, and the push deploys it.
    config.write_text(config.read_text() + (
        "risk:\n  ignore:\n    - rule: drop-column\n      migration: 0002_drop_name\n"
        "      reason: the app stopped reading items.name in v41\n"))
    app.commit("waive drop-column: nothing reads it")
    pr_head = app.head()
    app.git("checkout", "-q", "main")
    main_before = app.head()
    app.git("merge", "-q", "--no-ff", "drop-name", "-m", "Merge pull request #7")
    merged = app.head()
    github_api.add_pull(7, branch="drop-name", sha=pr_head, merged_as=merged)
    deploy = app.run(tmp_path / "push", "push", "migrate.yml", push_event(main_before, merged),
                     deploy_secrets, github_api.url)

    assert_ok(deploy)
    assert not column_exists(db, "name")
    assert deploy.output.count("pgwarden deploy exited with 0") == 1, "deployed once"
    files = deploy.artifact_files()
    pre_deploy_backup = json.loads(files["pgwarden-migrate-production-default/backup.json"])["id"]
    assert pre_deploy_backup in backups(app)
    [after_deploy] = our_comments(github_api, 7)
    assert after_deploy["id"] == comment["id"], "the PR's comment is updated in place"
    assert pre_deploy_backup in after_deploy["body"], "its restore pointer is the backup taken before this deploy"
    assert "waived" in after_deploy["body"] and "stopped reading items.name" in after_deploy["body"]
    approval = json.loads(files["pgwarden-migrate-production-default/approval.json"])
    assert approval["approved_by"] == ["alice"] and approval["required_reviewers"] == ["alice"]
    assert sum(1 for r in github_api.requests if r.method == "POST" and r.path.endswith("/comments")) == 1

    # 3. A later push with nothing pending (live data now): no approval, no backup, comment untouched.
    config.write_text(config.read_text() + "deploy:\n  retries: 2\n")
    app.commit("deploy retries")
    github_api.add_pull(8, branch="retries", sha=app.head())
    quiet_before, n_requests, stored = merged, len(github_api.requests), backups(app)
    quiet = app.run(tmp_path / "push2", "push", "migrate.yml", push_event(quiet_before, app.head()),
                    {**deploy_secrets, "PLAN_DATABASE_URL": db.url}, github_api.url)

    assert_ok(quiet)
    assert not quiet.job_ran("migrate ("), "nothing pending: no approval request, no backup"
    assert backups(app) == stored
    assert our_comments(github_api, 7)[0]["body"] == after_deploy["body"], "the restore pointer is left alone"
    assert not our_comments(github_api, 8) and writes(github_api, n_requests) == []

    # 4. The nightly backup (schedule), pruned to the retention: keep_last 2 drops the oldest.
    assert stored == {first_backup, pre_deploy_backup}
    nightly = app.run(tmp_path / "nightly", "schedule", "backup.yml", {"schedule": "23 2 * * *",
                                                                       "repository": REPOSITORY},
                      deploy_secrets, github_api.url)

    assert_ok(nightly)
    nightly_files = nightly.artifact_files()
    [artifact] = {path.split("/")[0] for path in nightly_files if path.endswith("-shop/backup.json")}
    nightly_backup = json.loads(nightly_files[f"{artifact}/backup.json"])["id"]
    assert backups(app) == {pre_deploy_backup, nightly_backup}, "the oldest was pruned, the pointer kept"
    assert first_backup in nightly_files[f"{artifact}/prune.txt"]

    # ...and the drill an hour later proves that newest backup of this database restores.
    drill = app.run(tmp_path / "drill", "schedule", "drill.yml", {"schedule": "23 3 * * *", "repository": REPOSITORY},
                    deploy_secrets, github_api.url)

    assert_ok(drill)
    [drilled] = [json.loads(text) for path, text in drill.artifact_files().items()
                 if path.startswith("pgwarden-drill-") and path.endswith("-shop/drill.json")]
    assert drilled["backup_id"] == nightly_backup, drilled

    # 5. The restore button, with the backup id from the comment (latest would be the nightly one).
    n_requests = len(github_api.requests)
    restore = app.run(tmp_path / "restore", "workflow_dispatch", "restore.yml",
                      {"inputs": {"backup-id": pre_deploy_backup, "confirm": db.name, "into": "",
                                  "reason": "INC-42: the mobile app still reads items.name", "pull-request": "7"},
                       "repository": REPOSITORY},
                      deploy_secrets, github_api.url)

    assert_ok(restore)
    assert column_exists(db, "name") and db.scalar("select count(*) from items where name is not null") == 2
    report = restore.artifact_files()["pgwarden-restore-production/restore-report.md"]
    assert "Restored and verified" in report and "INC-42" in report
    assert any("/issues/7/comments" in w for w in writes(github_api, n_requests)), "reported back to PR #7"
    assert "INC-42" in "\n".join(c["body"] for c in github_api.comments[7])

    password = unquote(urlsplit(db.url).password or "")
    assert len(password) > 8
    for run in (review, deploy, quiet, nightly, drill, restore):
        assert password not in run.output
    assert password not in github_api.all_text()


def test_a_fork_pr_with_a_clean_plan_ends_green_without_a_comment(
    tmp_path: Path, github_api: FakeGitHub
) -> None:
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT})
    app.example_workflow("migrate-sql.yml", "migrate.yml")
    app.publish()
    app.git("checkout", "-q", "-b", "add-stock")
    app.add_migration("0002_stock.sql", "alter table items add column stock int;\n")
    github_api.add_pull(9, branch="add-stock", sha=app.head())
    github_api.as_fork()  # a fork's token is read-only: GitHub answers 403 to every write

    # GitHub gives a fork PR no secrets at all.
    run = app.run(tmp_path / "fork", "pull_request", "migrate.yml", pr_event(9, app.head(), "add-stock", fork=True),
                  {}, github_api.url)

    assert_ok(run)
    assert not run.job_ran("migrate (")
    assert not github_api.comments.get(9)
    notices = [line for line in run.output.splitlines() if "::notice" in line and "comment" in line.lower()]
    assert len(notices) == 1, run.explain()
    assert "0002_stock" in run.artifact_files()["pgwarden-plan-production/plan.json"]
