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
    assert first.returncode == 0, first.output[-6000:]
    assert secret_db.scalar("select count(*) from items") == 2
    assert len(_our_comments(github_api)) == 1
    body1 = _our_comments(github_api)[0]["body"]
    assert "## ✅" in body1 and "pgwarden restore" in body1 and "```mermaid" in body1

    app.add_migration("0002_price.sql", ADD_PRICE)
    second = app.run(tmp_path / "run2", "pull_request", "migrate.yml", _pr_event(), secrets, github_api.url)
    assert second.returncode == 0, second.output[-6000:]
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
