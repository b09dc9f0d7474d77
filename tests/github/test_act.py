"""The real workflows under act, end to end, against a real PostgreSQL and a fake GitHub API."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.fix_github import FakeGitHub
from tests.fix_pg import TestDatabase
from tests.github.act_harness import VERSION_TAG, Consumer

pytestmark = [pytest.mark.act, pytest.mark.slow, pytest.mark.usefixtures("act_available")]

INIT = "create table items (id int primary key, name text not null);\ninsert into items values (1, 'a'), (2, 'b');\n"
ADD_PRICE = "alter table items add column price numeric;\n"

CALLER = f"""name: migrate
on: [pull_request, push]
permissions:
  contents: read
  pull-requests: write
  actions: read
  id-token: write
jobs:
  db:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
      fail-on: ${{{{ vars.FAIL_ON || '' }}}}
      deploy-on-pull-request: ${{{{ github.event_name == 'pull_request' }}}}
    secrets: inherit
"""
ZERO_SHA = "0" * 40


def _pr_event(number: int = 7, title: str = "Add price", branch: str = "add-price") -> dict:
    return {"pull_request": {"number": number, "title": title, "head": {"ref": branch, "sha": "abc123"},
                             "base": {"ref": "main"}}, "number": number,
            "repository": {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}}}


def _push_event(before: str = ZERO_SHA) -> dict:
    return {"ref": "refs/heads/main", "before": before,
            "repository": {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}}}


def _password(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def _our_comments(fake: FakeGitHub, number: int = 7) -> list[dict]:
    return [c for c in fake.comments.get(number, []) if "<!-- pgwarden:migrate:production -->" in c["body"]]


def _protected(fake: FakeGitHub) -> None:
    fake.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    fake.add_run_approval(1, "alice", "production")  # act numbers its runs from 1


def test_deploy_on_pull_request_when_the_caller_opts_in_with_pr_text_inert(
    tmp_path: Path, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    title = 'Add price"; curl x | sh # $(id) `id`'
    branch = "feature/$(id)"
    github_api.add_pull(7, title=title, branch=branch)
    other = github_api.add_comment(7, "<!-- squawk -->\nnot ours")
    _protected(github_api)
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT, "0002_price.sql": ADD_PRICE})
    app.workflow("migrate.yml", CALLER)

    run = app.run(tmp_path / "run", "pull_request", "migrate.yml", _pr_event(7, title, branch),
                  {"DATABASE_URL": secret_db.url}, github_api.url)

    assert run.returncode == 0, run.explain()
    assert secret_db.scalar("select count(*) from items") == 2
    assert secret_db.scalar("select count(*) from information_schema.columns where column_name = 'price'") == 1
    ours = _our_comments(github_api)
    assert len(ours) == 1, "the plan's comment is updated by the report job, not added to"
    assert sum(1 for r in github_api.requests if r.method == "POST") == 1
    body = ours[0]["body"]
    assert "## ✅" in body and "0002_price" in body and "pgwarden restore" in body
    assert "curl x \\| sh # $(id)" in body and "feature/$(id)" in body
    assert next(c for c in github_api.comments[7] if c["id"] == other)["body"] == "<!-- squawk -->\nnot ours"
    assert "uid=" not in run.output, "a $(id) in PR text was executed"
    assert "curl: " not in run.output and "command not found" not in run.output

    files = run.artifact_files()
    assert any(p.startswith("pgwarden-plan-production/plan.json") for p in files), sorted(files)
    for name in ("backup.json", "deploy.json", "verify.json", "approval.json"):
        assert f"pgwarden-migrate-production-default/{name}" in files, sorted(files)
    assert any("audit" in p for p in files), sorted(files)
    assert "Backed up, deployed and verified" in files["pgwarden-report-production/report.md"]
    assert not any(p.endswith((".dump", ".pgdump", ".zst")) or "/dump" in p for p in files), sorted(files)

    password = _password(secret_db.url)
    assert len(password) > 8
    assert password not in run.output and secret_db.url not in run.output
    assert all(password not in text for text in files.values())
    assert password not in github_api.all_text()


def test_blocked_plan_never_migrates(tmp_path: Path, db: TestDatabase, github_api: FakeGitHub) -> None:
    db.execute(INIT)
    _protected(github_api)
    app = Consumer.create(tmp_path, {"0001_drop.sql": "drop table items;\n"})
    app.workflow("migrate.yml", CALLER)

    # After a merge (push), with live data for the plan: the deploy never starts.
    run = app.run(tmp_path / "run", "push", "migrate.yml", _push_event(),
                  {"DATABASE_URL": db.url, "PLAN_DATABASE_URL": db.url}, github_api.url)

    assert run.returncode != 0
    assert not run.job_ran("migrate (default)"), "the migrate job must not start when the plan is blocked"
    assert db.scalar("select count(*) from items") == 2
    assert not list(app.store.iterdir()), "nothing may be backed up either"
    assert "The plan is blocked" in run.output
    plan = json.loads(run.artifact_files()["pgwarden-plan-production/plan.json"])
    assert plan["basis"] == "live" and plan["summary"]["blocked"] is True


FLEET_CALLER = f"""name: fleet
on: push
permissions:
  contents: read
  pull-requests: write
  actions: read
  id-token: write
jobs:
  db:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
      targets: '[{{"name": "eu", "secret": "EU_DATABASE_URL"}}, {{"name": "us", "secret": "US_DATABASE_URL"}}]'
      max-parallel: 2
    secrets: inherit
"""


def test_fleet_push_deploys_each_target_and_reports_the_one_that_failed(
    tmp_path: Path, db: TestDatabase, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    secret_db.execute("create table items (id int primary key)")  # us: the migration cannot apply there
    _protected(github_api)
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT})
    app.workflow("fleet.yml", FLEET_CALLER)
    github_api.add_pull(7, sha="f" * 40, merged_as=app.head())

    run = app.run(tmp_path / "run", "push", "fleet.yml", _push_event(),
                  {"EU_DATABASE_URL": db.url, "US_DATABASE_URL": secret_db.url}, github_api.url)

    assert run.returncode != 0
    assert db.scalar("select count(*) from items") == 2, "eu deployed although us failed (fail-fast: false)"
    assert secret_db.scalar("select count(*) from items") == 0
    files = run.artifact_files()
    assert "pgwarden-migrate-production-eu/verify.json" in files
    assert "pgwarden-migrate-production-us/verify.json" not in files, "verify is skipped after a failed deploy"
    outcomes = json.loads(files["pgwarden-migrate-production-us/outcomes.json"])["outcomes"]
    assert outcomes["backup"] == "success" and outcomes["deploy"] == "failure" and outcomes["verify"] == "skipped"
    [comment] = _our_comments(github_api)  # the merged PR's comment, found from the pushed commit
    body = comment["body"]
    assert "## ❌" in body and "eu" in body and "us" in body
    assert 'relation "items" already exists' in body, "the failure comment shows the real error"
    assert files["pgwarden-report-production/report.md"].startswith("<!-- pgwarden:migrate:production -->")
    assert _password(secret_db.url) not in run.output


PR_REVIEW_CALLER = f"""name: migrate
on: pull_request
permissions:
  contents: read
  pull-requests: write
  actions: read
  id-token: write
jobs:
  db:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
      deploy-on-pull-request: true
      require-reviewers: warn
      approval: pr-review
      approvers: alice, dev
    secrets: inherit
"""


def test_pr_review_approval_gates_the_migrate_job(tmp_path: Path, db: TestDatabase, github_api: FakeGitHub) -> None:
    db.execute(INIT)
    github_api.add_pull(7, author="dev")
    github_api.add_review(7, "dev")  # the author approving their own PR does not count
    github_api.add_review(7, "mallory")  # nor does someone who is not an approver
    github_api.add_review(7, "alice", commit="0ld5ha")  # nor an approval of a commit older than the head
    app = Consumer.create(tmp_path, {"0001_price.sql": ADD_PRICE})
    app.workflow("migrate.yml", PR_REVIEW_CALLER)
    price = "select count(*) from information_schema.columns where table_name = 'items' and column_name = 'price'"

    refused = app.run(tmp_path / "refused", "pull_request", "migrate.yml", _pr_event(), {"DATABASE_URL": db.url},
                      github_api.url)

    assert refused.returncode != 0
    assert "exit status 4" in refused.output, refused.explain()  # SafetyRefusal: nothing was changed
    assert ("PR #7: needs an approving review from one of alice, dev, who is not the author dev "
            "(the author's own approval does not count); alice approved an earlier commit") in refused.output
    assert any(r.method == "GET" and r.path.startswith("/repos/acme/shop/pulls/7/reviews")
               for r in github_api.requests)
    assert not list(app.store.iterdir()), "nothing may be backed up without the approval"
    assert db.scalar(price) == 0, "the migration must not run without the approval"
    files = refused.artifact_files()
    assert "pgwarden-migrate-production-default/backup.json" not in files
    body = _our_comments(github_api)[0]["body"]
    assert "## ⛔" in body
    assert "Not approved, nothing was backed up or deployed: PR #7: needs an approving review" in body

    github_api.add_review(7, "alice")
    approved = app.run(tmp_path / "approved", "pull_request", "migrate.yml", _pr_event(), {"DATABASE_URL": db.url},
                       github_api.url)

    assert approved.returncode == 0, approved.explain()
    assert "PR #7: approved by alice" in approved.output
    assert db.scalar(price) == 1
    assert len(list(app.store.iterdir())) == 1
