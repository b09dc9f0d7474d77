"""The rehearsal in the reusable workflow, under act: before the approval, on a copy of production.

One story, two pushes, against a real PostgreSQL and the fake GitHub API (the harness's act runs,
ports and locks, as tests/github/test_act_flow.py):

1. A merge adds a unique index over a column whose values are duplicated in production (the rows
   were written by the app, not by a migration, so no file the review reads holds them). The
   review cannot know (``unique-on-duplicate-values`` is info without live data); the rehearse job
   restores a fresh backup into a scratch database, the index fails there with 23505, the PR
   comment says so, and the migrate job never starts: no approval request, no deploy.
2. The app team removes the duplicates in production, the nightly backup runs, and the next merge
   (which gives the review live data) rehearses from that backup (``rehearse-backup: latest``: no
   dump of its own). The rehearsal passes, the comment with its figures is written BEFORE the
   migrate job asks anything about the approval, then the deploy runs.

Each time: the target untouched by the rehearsal, the scratch database gone, no dump, no
production value and no password in the output, the artifacts or the comment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.fix_github import FakeGitHub
from tests.fix_pg import TestDatabase
from tests.github.act_harness import VERSION_TAG, ActRun, Consumer, cli

pytestmark = [pytest.mark.act, pytest.mark.slow, pytest.mark.usefixtures("act_available")]

INIT = "create table items (id int primary key, name text not null, sku text);\n"
#: Written by the app in production: in no migration file, so only the copy can tell.
DUPLICATED = "dup-sku-7f3e9"
UNIQUE_SKU = "create unique index items_sku on items (sku);\n"
CONFIG = (
    "risk:\n  ignore:\n    - rule: require-concurrent-index\n      migration: 0002_unique_sku\n"
    "      reason: items is small, the build takes milliseconds\n"
    # The figures of a tiny table on a busy test machine: no lock here is a finding.
    "rehearsal:\n  max_lock: 5min\n"
)
CALLER = f"""name: migrate
on:
  push:
    branches: [main]
permissions:
  contents: read
  pull-requests: write
  actions: read
  id-token: write
jobs:
  production:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
      rehearse: true
      rehearse-backup: ${{{{ vars.REHEARSE_BACKUP || 'fresh' }}}}
    secrets:
      DATABASE_URL: ${{{{ secrets.DATABASE_URL }}}}
      PLAN_DATABASE_URL: ${{{{ secrets.PLAN_DATABASE_URL }}}}
"""
MARKER = "<!-- pgwarden:migrate:production -->"
REPOSITORY = {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}, "fork": False}
REHEARSAL = "pgwarden-rehearse-production-default/rehearse.json"


def _push(before: str, after: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "before": before, "after": after, "repository": REPOSITORY}


def _merge(app: Consumer, github_api: FakeGitHub, number: int, branch: str) -> tuple[str, str]:
    """Merge BRANCH into main as pull request NUMBER; (main before, the merge commit)."""
    head = app.head()
    app.git("checkout", "-q", "main")
    before = app.head()
    app.git("merge", "-q", "--no-ff", branch, "-m", f"Merge pull request #{number}")
    github_api.add_pull(number, branch=branch, sha=head, merged_as=app.head())
    return before, app.head()


def _comment(github_api: FakeGitHub, number: int) -> str:
    [ours] = [c for c in github_api.comments.get(number, []) if MARKER in c["body"]]
    return str(ours["body"])


def _scratch_databases(db: TestDatabase) -> list[str]:
    return [row[0] for row in db.execute("select datname from pg_database where datname like 'pgwarden_rehearse%'")]


def _has_index(db: TestDatabase) -> bool:
    return bool(db.scalar("select count(*) from pg_indexes where indexname = 'items_sku'"))


def _assert_nothing_leaked(run: ActRun, github_api: FakeGitHub, db: TestDatabase) -> dict[str, str]:
    files = run.artifact_files()
    assert not any(p.endswith((".dump", ".pgdump", ".zst", ".tar")) or "/dump" in p for p in files), sorted(files)
    password = unquote(urlsplit(db.url).password or "")
    assert len(password) > 8
    everything = [run.output, github_api.all_text(), *files.values()]
    assert not any(password in text for text in everything), "the password leaked"
    assert not any(DUPLICATED in text for text in everything), "a production value left the scratch database"
    assert _scratch_databases(db) == [], "the scratch database was dropped"
    return files


def test_the_rehearsal_blocks_a_migration_that_fails_on_the_copy_then_passes_before_the_approval(
    tmp_path: Path, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    db = secret_db
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT}, extra_config=CONFIG)
    app.workflow("migrate.yml", CALLER)
    app.publish()
    cli(app, db, "deploy", "--backup-id", json.loads(cli(app, db, "backup", "--format", "json"))["id"])
    db.execute(f"insert into items values (1, 'a', '{DUPLICATED}'), (2, 'b', '{DUPLICATED}'), (3, 'c', 'c-1')")
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    github_api.add_run_approval(1, "alice", "production")  # act numbers its runs from 1
    secrets = {"DATABASE_URL": db.url}

    # 1. The merge adds the unique index: it fails on the copy, so nothing asks for an approval.
    app.git("checkout", "-q", "-b", "unique-sku")
    app.add_migration("0002_unique_sku.sql", UNIQUE_SKU)
    before, merged = _merge(app, github_api, 7, "unique-sku")
    stored = {p.name for p in app.store.iterdir()}
    blocked = app.run(tmp_path / "push1", "push", "migrate.yml", _push(before, merged), secrets, github_api.url)

    assert blocked.returncode != 0, "a rehearsal that found a failure fails the run"
    assert "Traceback" not in blocked.output, blocked.explain()
    assert blocked.job_ran("rehearse ("), blocked.explain()
    assert not blocked.job_ran("migrate ("), "no approval is requested after a failed rehearsal"
    assert not any("/environments/" in r.path for r in github_api.requests), "the approval was never checked"
    assert not _has_index(db) and db.scalar("select count(*) from items") == 3, "the target is untouched"
    files = _assert_nothing_leaked(blocked, github_api, db)
    rehearsal = json.loads(files[REHEARSAL])
    [failed] = rehearsal["migrations"]
    assert (failed["name"], failed["status"], failed["sqlstate"]) == ("0002_unique_sku", "failed", "23505"), failed
    assert rehearsal["dropped"] is True
    fresh = {p.name for p in app.store.iterdir()} - stored
    assert {rehearsal["backup_id"]} == fresh, "rehearse-backup fresh: the rehearse job took its own backup"
    rehearse_job = blocked.job_text("rehearse (default)")
    assert "::error::" in rehearse_job and "failed on the copy" in rehearse_job, rehearse_job[-3000:]
    assert "state=rehearsal-blocked" in blocked.job_text("rehearsal verdict"), blocked.explain()
    body = _comment(github_api, 7)
    assert "Blocked by the rehearsal" in body and "0002_unique_sku" in body and "23505" in body, body
    assert "Deployed" not in body

    # 2. The duplicates fixed in production, the nightly backup, then the next merge (live review:
    # pending is what the database's history lacks, 0002 still).
    db.execute(f"update items set sku = 'b-1' where id = 2 and sku = '{DUPLICATED}'")
    nightly = json.loads(cli(app, db, "backup", "--format", "json"))["id"]
    app.git("checkout", "-q", "-b", "live-review")
    (app.path / "README.md").write_text("The review reads live sizes through PLAN_DATABASE_URL.\n")
    app.commit("review with live data")
    before, merged = _merge(app, github_api, 8, "live-review")
    stored, n_requests = {p.name for p in app.store.iterdir()}, len(github_api.requests)
    deployed = app.run(tmp_path / "push2", "push", "migrate.yml", _push(before, merged),
                       {**secrets, "PLAN_DATABASE_URL": db.url}, github_api.url,
                       extra_args=["--var", "REHEARSE_BACKUP=latest"])

    assert deployed.returncode == 0, deployed.explain()
    assert "Traceback" not in deployed.output, deployed.explain()
    assert deployed.output.count("pgwarden rehearse exited with 0") == 1, deployed.explain()
    assert deployed.output.count("pgwarden deploy exited with 0") == 1, deployed.explain()
    assert _has_index(db) and db.scalar("select count(*) from items") == 3
    files = _assert_nothing_leaked(deployed, github_api, db)
    rehearsal = json.loads(files[REHEARSAL])
    assert [m["status"] for m in rehearsal["migrations"]] == ["applied"], rehearsal
    assert rehearsal["backup_id"] == nightly, "rehearse-backup latest: the nightly backup, no dump of its own"
    pre_deploy = json.loads(files["pgwarden-migrate-production-default/backup.json"])["id"]
    assert {p.name for p in app.store.iterdir()} - stored == {pre_deploy}, "only the migrate job backed up"
    # The approver reads the figures first: the rehearse job wrote them before the migrate job
    # asked the API about the environment's reviewers (the job GitHub makes wait for the approval).
    later = github_api.requests[n_requests:]
    figures = next(i for i, r in enumerate(later) if r.method in ("POST", "PATCH") and "Awaiting approval" in r.body
                   and "Rehearsed" in r.body and "0002_unique_sku" in r.body)
    gate = next(i for i, r in enumerate(later) if "/environments/production" in r.path)
    assert figures < gate, [f"{r.method} {r.path}" for r in later]
    assert "state=awaiting-approval" in deployed.job_text("rehearsal verdict")
    body = _comment(github_api, 8)
    assert "Rehearsed" in body and "0002_unique_sku" in body and "Deployed" in body, body


FLEET_CALLER = f"""name: migrate-fleet
on:
  push:
    branches: [main]
permissions:
  contents: read
  pull-requests: write
  actions: read
  id-token: write
jobs:
  tenants:
    uses: pgwarden/pgwarden/.github/workflows/migrate.yml@{VERSION_TAG}
    with:
      environment: production
      container-image: ''
      targets: '[{{"name": "eu", "secret": "EU_DATABASE_URL"}}, {{"name": "us", "secret": "US_DATABASE_URL"}}]'
      rehearse: true
    secrets: inherit
"""
#: The ALTER's ACCESS EXCLUSIVE lock is held until the backfill of every row commits.
BACKFILL = "alter table items add column flag int;\nupdate items set flag = 1;\n"


def test_a_fleet_is_rehearsed_per_target_and_one_long_lock_holds_back_the_approval(
    tmp_path: Path, db: TestDatabase, secret_db: TestDatabase, github_api: FakeGitHub
) -> None:
    eu, us = db, secret_db
    app = Consumer.create(tmp_path, {"0001_init.sql": INIT}, extra_config="rehearsal:\n  max_lock: 50ms\n")
    app.workflow("fleet.yml", FLEET_CALLER)
    app.publish()
    for target in (eu, us):
        cli(app, target, "deploy", "--backup-id", json.loads(cli(app, target, "backup", "--format", "json"))["id"])
    # eu is big: its backfill holds the lock for a measurable time (hundreds of ms); us has 3 rows.
    eu.execute("insert into items select g, 'n' || g, 's' || g from generate_series(1, 200000) g")
    us.execute("insert into items values (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')")
    github_api.add_environment("production", reviewers=["alice"], prevent_self_review=True)
    github_api.add_run_approval(1, "alice", "production")
    app.git("checkout", "-q", "-b", "flag")
    app.add_migration("0002_flag.sql", BACKFILL)
    before, merged = _merge(app, github_api, 9, "flag")

    run = app.run(tmp_path / "fleet", "push", "fleet.yml", _push(before, merged),
                  {"EU_DATABASE_URL": eu.url, "US_DATABASE_URL": us.url}, github_api.url, timeout=400)

    assert run.returncode != 0, "the verdict holds the approval back"
    assert "Traceback" not in run.output, run.explain()
    assert run.job_ran("rehearse (eu)") and run.job_ran("rehearse (us)"), run.explain()
    assert not run.job_ran("migrate ("), "no target is deployed while one is blocked"
    assert not any("/environments/" in r.path for r in github_api.requests)
    files = run.artifact_files()
    for target in ("eu", "us"):
        rehearsal = json.loads(files[f"pgwarden-rehearse-production-{target}/rehearse.json"])
        assert [m["status"] for m in rehearsal["migrations"]] == ["applied"], rehearsal
        assert rehearsal["dropped"] is True
    eu_rehearsal = json.loads(files["pgwarden-rehearse-production-eu/rehearse.json"])
    [lock] = [lk for lk in eu_rehearsal["migrations"][0]["locks"] if lk["table"] == "public.items"]
    assert lock["mode"] == "AccessExclusiveLock" and lock["held_s"] > 0.05, lock
    for target in (eu, us):
        assert not target.scalar("select count(*) from information_schema.columns where column_name = 'flag'")
        assert _scratch_databases(target) == []
    verdict = run.job_text("rehearsal verdict", environment="tenants")
    assert "state=rehearsal-blocked" in verdict and "raise rehearsal.max_lock" in verdict, verdict[-3000:]
    body = _comment(github_api, 9)
    assert "Blocked by the rehearsal" in body and "0002_flag" in body, body
    assert "eu" in body and "us" in body and "ACCESS EXCLUSIVE" in body, body
    assert unquote(urlsplit(us.url).password or "") not in run.output + github_api.all_text()
