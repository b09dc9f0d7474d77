"""The PR comment: created once, then edited in place; other comments untouched; always fits."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from pgwarden.manifest import BackupFile, BackupManifest
from pgwarden.records import PlanReport
from pgwarden.report import comment as rc
from pgwarden.report import github as gh
from pgwarden.report import results as rr
from pgwarden.report.annotations import annotation
from tests.fix_github import FakeGitHub
from tests.fix_project import cli_backup, write_sql_project
from tests.github import comment_cases as cases


def _env(
    fake: FakeGitHub, tmp_path: Path, event: dict | None = None, event_name: str = "pull_request"
) -> gh.ActionsEnv:
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event or {"pull_request": {"number": 7, "title": "t", "head": {"ref": "b"}}}))
    return gh.ActionsEnv.from_environ({
        "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.full_name, "GITHUB_TOKEN": "ghs_test",
        "GITHUB_EVENT_PATH": str(event_path), "GITHUB_EVENT_NAME": event_name, "GITHUB_SHA": "abc123",
        "GITHUB_RUN_ID": "42",
    })


def _plan(n_findings: int = 1, blocked: bool = False) -> dict:
    sev = ["info", "low", "medium", "high", "critical"]
    findings = [{"rule": f"rule-{i}", "category": "blocking-lock", "severity": sev[i % 5], "migration": "0002_x",
                 "file": "migrations/0002_x.sql", "line": i + 1, "message": "m" * 300, "suggestion": "s" * 300}
                for i in range(n_findings)]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return {"version": 1, "migrations": [{"name": "0002_x", "path": "migrations/0002_x.sql", "status": "pending"}],
            "findings": findings, "summary": {"max_severity": "high" if findings else None, "blocked": blocked,
                                                "counts": counts}}


def _manifest() -> BackupManifest:
    return BackupManifest(
        id="20260101T000000Z-shop", created_at="2026-01-01T00:00:00.000Z", database="shop", server_version="16.4",
        pg_dump_version="16.4", format="custom", compression="zstd:1", store="file://./backups", verified=True,
        files=[BackupFile("dump.pgdump", 4096, "ab" * 32)], size_bytes=4096, duration_s=1.5)


def test_comment_created_then_updated_in_place(github_api: FakeGitHub, tmp_path: Path) -> None:
    github_api.add_pull(7)
    other = github_api.add_comment(7, "<!-- squawk:report -->\nsome other tool", author="squawk[bot]")
    other_prod = github_api.add_comment(7, "<!-- pgwarden:migrate:staging -->\nstaging run", author="bot")
    env = _env(github_api, tmp_path)
    api = gh.PyGithubApi(env)
    marker = rc.marker("migrate", "production")

    action1, first = gh.upsert_comment(api, 7, marker, "first body")
    action2, second = gh.upsert_comment(gh.PyGithubApi(env), 7, marker, "second body")

    assert (action1, action2) == ("created", "updated")
    assert first.id == second.id
    bodies = {c["id"]: c["body"] for c in github_api.comments[7]}
    assert len(bodies) == 3
    assert bodies[first.id].startswith(marker) and "second body" in bodies[first.id]
    assert bodies[other] == "<!-- squawk:report -->\nsome other tool"
    assert bodies[other_prod] == "<!-- pgwarden:migrate:staging -->\nstaging run"
    methods = [(r.method, r.path.split("?")[0]) for r in github_api.requests]
    assert ("PATCH", f"/repos/acme/shop/issues/comments/{first.id}") in methods
    assert sum(1 for m, _ in methods if m == "POST") == 1


def test_push_event_finds_the_pull_request_of_the_commit(github_api: FakeGitHub, tmp_path: Path) -> None:
    github_api.add_pull(12, sha="abc123")
    env = _env(github_api, tmp_path, event={"ref": "refs/heads/main"}, event_name="push")
    assert gh.pull_request_number(env, gh.PyGithubApi(env)) == 12


def test_report_fits_in_a_comment_dropping_lowest_findings_first() -> None:
    plan = _plan(400)
    info = rc.RunInfo(workflow="migrate", environment="production", stage="plan", outcomes={"plan": "success"})
    text = rc.render_report(info, rr.RunResults(plan=PlanReport.from_json(plan)), full_link="https://example.test/run/1")
    assert len(text) < rc.COMMENT_LIMIT
    assert "too long for a GitHub comment: it shows the" in text and "highest of 400 findings" in text
    assert "https://example.test/run/1" in text
    # The findings table is the plan report's (report.markdown): "| 🟥 critical | [`rule-4`](...) | ...".
    shown = [line for line in text.splitlines() if line.startswith("| ") and "`rule-" in line]
    severities = {line.split("|")[1].split()[-1] for line in shown}
    assert "critical" in severities and "info" not in severities


def test_report_sections_from_real_shaped_results(tmp_path: Path) -> None:
    run = tmp_path / "pgwarden-migrate-production-default"
    run.mkdir()
    (tmp_path / "pgwarden-plan-production").mkdir()
    (tmp_path / "pgwarden-plan-production" / "plan.json").write_text(json.dumps(_plan(2)))
    (run / "backup.json").write_text(json.dumps(_manifest().to_json()))
    (run / "deploy.json").write_text(json.dumps({"step": "deploy", "ok": False, "summary": "0003 failed",
                                                 "applied": ["0002_x"], "checks": []}))
    (run / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": {
        "backup": "success", "deploy": "failure", "verify": "skipped"}}))
    results = rr.load_results(tmp_path)
    info = rc.RunInfo(workflow="migrate", environment="production", stage="final",
                      outcomes={"plan": "success", "migrate": "failure"},
                      restore_workflow_url="https://github.com/acme/shop/actions/workflows/restore.yml")
    text = rc.render_report(info, results)
    assert text.startswith(rc.marker("migrate", "production"))
    assert "## ❌" in text
    assert "pgwarden restore --backup-id 20260101T000000Z-shop --confirm shop" in text
    assert "restore workflow" in text
    assert "```mermaid" in text and 'deploy["deploy ❌"]' in text and 'verify["verify ⏭️"]' in text
    assert "- [x] Backup created and verified" in text
    assert "- [ ] Migration run\n" in text
    # One target: called by its environment, never "default"; four columns.
    assert ("| file://./backups | `20260101T000000Z-shop`<br>sha256 `abababababababab…` | 4.0 KiB | ✅ |"
            in text)
    assert "default" not in text.replace("pgwarden:migrate:production", "")
    assert "| backup | 1.5s |" in text


def test_refused_approval_heads_the_comment_with_the_reason(tmp_path: Path) -> None:
    run = tmp_path / "pgwarden-migrate-production-default"
    run.mkdir()
    (tmp_path / "pgwarden-plan-production").mkdir()
    (tmp_path / "pgwarden-plan-production" / "plan.json").write_text(json.dumps(_plan(1)))
    (run / "approval.json").write_text(json.dumps({
        "step": "approval", "ok": False, "summary": "PR #7: needs an approving review from one of alice"}))
    (run / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": {
        "approval": "failure", "backup": "skipped", "deploy": "skipped", "verify": "skipped"}}))
    info = rc.RunInfo(workflow="migrate", environment="production", stage="final",
                      outcomes={"plan": "success", "migrate": "failure"})
    text = rc.render_report(info, rr.load_results(tmp_path))
    assert "## ⛔" in text
    assert "Not approved, nothing was backed up or deployed: PR #7: needs an approving review from one of alice" in text
    assert 'approval["approval ❌"]' in text and 'backup["backup ⏭️"]' in text


def _refused_deploy_run(tmp_path: Path, deploy: dict) -> rr.RunResults:
    run = tmp_path / "pgwarden-migrate-production-default"
    run.mkdir()
    (run / "plan.json").write_text(json.dumps(_plan(0)))
    (run / "backup.json").write_text(json.dumps(_manifest().to_json()))
    (run / "deploy.json").write_text(json.dumps(deploy))
    (run / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": {
        "backup": "success", "deploy": "failure", "verify": "skipped"}}))
    return rr.load_results(tmp_path)


FINAL = rc.RunInfo(workflow="migrate", environment="production", stage="final",
                   outcomes={"plan": "success", "migrate": "failure"})


def test_a_refusal_shows_its_message_and_hint(tmp_path: Path) -> None:
    """The CLI's error document: the comment says why, not "printed no result" (issue 16, bug 2)."""
    results = _refused_deploy_run(tmp_path, {
        "version": 1, "step": "deploy", "ok": False, "exit_code": 4,
        "error": {"kind": "refused", "message": "the newest verified backup is 3d 2h old",
                  "hint": "run `pgwarden backup` first"}})
    text = rc.render_report(FINAL, results)
    assert ("- ❌ **refused** (exit code 4): the newest verified backup is 3d 2h old"
            " — **hint:** run `pgwarden backup` first") in text
    assert "| deploy |" not in text  # a failure document has no duration to show


def test_a_step_that_printed_nothing_keeps_the_reason_from_its_log(tmp_path: Path) -> None:
    path = tmp_path / "deploy.json"
    path.write_text("")
    log = "connecting...\npgwarden: the deploy lock is held by run 41\n  hint: wait for it, or cancel that run\n"
    doc = rr.read_document(path, 4, log)
    assert doc == {"version": 1, "step": "deploy", "ok": False, "exit_code": 4, "error": {
        "kind": "refused", "message": "pgwarden deploy printed no result: pgwarden: the deploy lock is held by run 41",
        "hint": "wait for it, or cancel that run"}}
    text = rc.render_report(FINAL, _refused_deploy_run(tmp_path, doc))
    assert "**refused** (exit code 4): pgwarden deploy printed no result: pgwarden: the deploy lock is held" in text
    assert "**hint:** wait for it, or cancel that run" in text
    # Nothing at all in the log: the fallback still says which step and how it ended.
    bare = rr.read_document(path, None)
    assert bare is not None and bare["error"] == {
        "kind": "failed", "message": "pgwarden deploy printed no result", "hint": None}


def test_a_failed_backup_in_a_fleet_says_which_target_and_why(tmp_path: Path) -> None:
    for name, backup in (("us", _manifest().to_json()), ("eu", {
            "version": 1, "step": "backup", "ok": False, "exit_code": 1,
            "error": {"kind": "failed", "message": "pg_dump: connection refused", "hint": None}})):
        run = tmp_path / f"pgwarden-migrate-production-{name}"
        run.mkdir()
        (run / "backup.json").write_text(json.dumps(backup))
    results = rr.load_results(tmp_path)
    assert [(t.name, t.outcome("backup")) for t in results.targets] == [("eu", "failure"), ("us", "success")]
    text = rc.render_report(FINAL, results)
    assert "| us | `20260101T000000Z-shop`<br>sha256 `abababababababab…` | 4.0 KiB | ✅ |" in text
    assert "- **eu**: ❌ **failed** (exit code 1): pg_dump: connection refused\n" in text
    assert "Failed on eu:" in text


def test_a_plan_that_failed_says_why_instead_of_an_empty_review(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(json.dumps({
        "version": 1, "step": "plan", "ok": False, "exit_code": 2,
        "error": {"kind": "usage", "message": "pgwarden.yml: migrations.tool: expected one of prisma, laravel",
                  "hint": None}}))
    results = rr.load_results(tmp_path)
    assert results.plan is None and results.plan_failure is not None
    info = rc.RunInfo(workflow="migrate", environment="production", stage="plan", outcomes={"plan": "failure"})
    text = rc.render_report(info, results)
    assert ("## ❌ Plan failed · pgwarden migrate → `production`\n\nThe plan step failed before it could review the "
            "migrations: "
            "**usage** (exit code 2): pgwarden.yml: migrations.tool: expected one of prisma, laravel\n") in text
    assert "The plan step failed: **usage** (exit code 2)" in text
    assert 'plan["plan ❌"]' in text


def test_a_plan_that_printed_nothing_renders(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text("Traceback (most recent call last):\n")
    info = rc.RunInfo(workflow="migrate", environment="production", stage="plan", outcomes={"plan": "failure"})
    text = rc.render_report(info, rr.load_results(tmp_path))
    assert "The plan step failed: **failed** (exit code 1): pgwarden plan printed no result" in text


@pytest.mark.parametrize(
    ("reviews", "approved"),
    [
        ([("alice", "APPROVED")], True),
        ([("dev", "APPROVED")], False),  # the author
        ([("mallory", "APPROVED")], False),  # not an approver
        ([("alice", "APPROVED"), ("alice", "CHANGES_REQUESTED")], False),  # withdrawn
        ([("alice", gh.STALE)], False),  # approved an older commit
        ([("alice", gh.STALE), ("alice", "APPROVED")], True),  # then approved the current one
        ([], False),
    ],
)
def test_pr_review_approval(reviews: list[tuple[str, str]], approved: bool) -> None:
    decision = gh.decide_approval("dev", reviews, ["alice", "dev"])
    assert decision.approved is approved, decision.message


def test_pr_review_approval_through_the_api(github_api: FakeGitHub, tmp_path: Path) -> None:
    github_api.add_pull(7, author="dev")
    github_api.add_review(7, "dev")
    env = _env(github_api, tmp_path)
    assert not gh.check_pull_request_approval(env, ["alice", "dev"]).approved
    github_api.add_review(7, "alice")
    decision = gh.check_pull_request_approval(env, ["alice"])
    assert decision.approved and "alice" in decision.message


def test_an_approval_of_an_older_commit_does_not_count(github_api: FakeGitHub, tmp_path: Path) -> None:
    github_api.add_pull(7, author="dev", sha="abc123")
    github_api.add_review(7, "alice", commit="0ld5ha")  # then the author pushed abc123
    env = _env(github_api, tmp_path, event={"pull_request": {"number": 7, "head": {"ref": "b", "sha": "abc123"}}})
    decision = gh.check_pull_request_approval(env, ["alice"])
    assert not decision.approved
    assert "alice approved an earlier commit" in decision.message
    github_api.add_review(7, "alice")
    assert gh.check_pull_request_approval(env, ["alice"]).approved


def test_annotation_text_cannot_inject_workflow_commands() -> None:
    line = annotation("warning", "bad\n::set-output name=x::y", file="a,b:c.sql", line=3, title="t")
    assert "\n" not in line
    assert line.startswith("::warning file=a%2Cb%3Ac.sql,line=3,title=t::")


# --- the comment a release manager approves from: snapshots of each state ---------------------

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("state", ["blocked", "awaiting", "deployed", "failed"])
def test_comment_snapshot(tmp_path: Path, state: str) -> None:
    """The whole text of each state's comment, reviewed as a diff when it changes.

    PGWARDEN_UPDATE_SNAPSHOTS=1 rewrites tests/github/snapshots/<state>.md instead of comparing.
    """
    text = cases.render(tmp_path, state)
    snapshot = SNAPSHOTS / f"{state}.md"
    if os.environ.get("PGWARDEN_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.is_file(), f"no snapshot {snapshot}: run with PGWARDEN_UPDATE_SNAPSHOTS=1 and review it"
    assert text == snapshot.read_text(encoding="utf-8"), (
        f"the {state} comment changed: review the diff, then PGWARDEN_UPDATE_SNAPSHOTS=1 to accept it")


def test_the_awaiting_approval_comment_shows_what_is_approved(tmp_path: Path) -> None:
    text = cases.render(tmp_path, "awaiting")
    head = text.split("```mermaid")[0]
    assert "Risk review passed: waiting for approval of `production`." in head
    assert "Reviewed against live data from `app_ro@db.internal:5432/shop`" in head
    assert "commit `8d3f0c1a9b7e`" in head
    # Every pending migration with its SQL (collapsed), not only those with findings.
    for name in (cases.DROP, cases.BACKFILL):
        assert f"· `{name}`" in text
    assert '<details><summary>SQL (2 lines)</summary>\n\n```sql\n-- Name is now first_name/last_name' in text
    assert "_…" in text and "more line(s)" in text  # the 201-line backfill is cut, with a note
    # The waived HIGH finding is there, as waived, with its reason.
    assert "| 🟧 high<br>**waived** | [`drop-column`](https://github.com/pgwarden/pgwarden/blob/v0.1.0/docs/rules/" \
           "drop-column.md) |" in text
    assert "**Waived:** legacy_name unused since v3.2 (PR #41); backup kept 90 days" in text
    assert "| `Post` | ~8,400,000 | 2.9 GiB |" in text
    assert "Runbook checklist" not in text


def test_without_live_data_the_comment_says_so_and_how_to_get_it(tmp_path: Path) -> None:
    text = cases.render(tmp_path, "blocked")
    head = text.split("```mermaid")[0]
    assert "**No live data**: pending = the migrations added or changed vs `origin/main@1a2b3c4`" in head
    assert "`PLAN_DATABASE_URL`" in head and "docs/github-actions.md#live-data-for-the-review" in head
    assert "Blocked by the risk review: nothing was backed up or deployed. 2 findings at or above high" in head


def test_the_failed_comment_says_the_error_what_changed_and_the_next_step(tmp_path: Path) -> None:
    text = cases.render(tmp_path, "failed")
    # The tool's real error, not cut after 60 characters.
    assert 'DETAIL: Key (slug)=(hello-world) is duplicated.' in text
    assert f"1 migration applied (`{cases.DROP}`) before `{cases.BACKFILL}` failed" in text
    assert f"`{cases.BACKFILL}` ran in a transaction and rolled back" in text
    assert f"run `npx prisma migrate resolve --rolled-back {cases.BACKFILL}` against `production`" in text
    assert "pgwarden restore --backup-id 20260101T000000Z-4f2a9c --confirm shop" in text
    assert "`default`" not in text and "default ·" not in text
    assert "✅ Approved by @alice for `production`" in text
    assert "<details><summary>6 of 20 items done by pgwarden" in text  # the checklist: final, collapsed
    assert "マイグレーション" not in text


def test_nothing_changed_offers_no_restore(tmp_path: Path) -> None:
    root = cases.write_run(tmp_path, "failed")
    deploy = root / "pgwarden-migrate-production-default" / "deploy.json"
    doc = json.loads(deploy.read_text())
    doc.update(applied=[], tool="laravel", failed_migration=cases.DROP, failed_in_history=[], resolve_hint=None)
    deploy.write_text(json.dumps(doc))
    text = rc.render_report(cases.info("failed"), rr.load_results(root))
    assert f"**`production` is unchanged**: `{cases.DROP}` ran in a transaction and rolled back" in text
    assert f"- The database is unchanged: fix the migration `{cases.DROP}` and push." in text
    assert "pgwarden restore" not in text and "### Restore" not in text


def test_a_migration_left_half_applied_names_pgwarden_resolve(tmp_path: Path) -> None:
    root = cases.write_run(tmp_path, "failed")
    deploy = root / "pgwarden-migrate-production-default" / "deploy.json"
    doc = json.loads(deploy.read_text())
    doc.update(applied=[], unfinished=[cases.BACKFILL], failed_in_history=[])
    deploy.write_text(json.dumps(doc))
    text = rc.render_report(cases.info("failed"), rr.load_results(root))
    assert "may be half changed" in text and "it does not run in a transaction" in text
    assert (f"`pgwarden resolve {cases.BACKFILL} --applied` (all of it is there) or "
            f"`pgwarden resolve {cases.BACKFILL} --rolled-back`") in text
    assert "pgwarden restore --backup-id" in text


def test_nothing_pending_says_so_and_needs_no_approval(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(json.dumps({**cases.plan_document("live", blocked=False), "migrations": [],
                                                    "findings": [], "waived": [],
                                                    "summary": {"max_severity": None, "blocked": False,
                                                                "counts": {}, "fail_on": "high"}}))
    info = rc.RunInfo(workflow="migrate", environment="production", stage="plan", outcomes={"plan": "success"})
    text = rc.render_report(info, rr.load_results(tmp_path))
    assert "## ✅ Nothing to deploy · pgwarden migrate → `production`" in text
    assert "No pending migrations: nothing to review, back up or deploy." in text
    assert rc.render_summary(info, rr.load_results(tmp_path)) == ""


def test_the_final_step_summary_repeats_no_table(tmp_path: Path) -> None:
    """The plan, backup and verify steps' summaries have their tables: the final summary adds the outcome."""
    results = rr.load_results(cases.write_run(tmp_path, "failed"))
    summary = rc.render_summary(cases.info("failed"), results)
    assert "| severity |" not in summary and "| check |" not in summary and "| store |" not in summary
    assert "npx prisma migrate resolve --rolled-back" in summary and "pgwarden restore" in summary
    assert rc.render_summary(cases.info("awaiting"), rr.load_results(cases.write_run(tmp_path / "p", "awaiting"))) \
        == ""


# --- from real results: the commands' own documents, a real database --------------------------

ORDERS = ("CREATE TABLE orders (id bigint primary key, note text);\n"
          "INSERT INTO orders SELECT g, 'n' FROM generate_series(1, 500) g;\n")


def _real_run(cli, db, tmp_path: Path, migrations: dict[str, str]) -> tuple[Path, str]:
    """Deploy 0001, then plan, back up, deploy and verify ``migrations`` as the migrate job does."""
    project = tmp_path / "app"
    write_sql_project(project, {"0001_orders": ORDERS})
    env = {"DATABASE_URL": db.url}
    backup_id = cli_backup(cli, project, db.url)["id"]
    assert cli("deploy", "--backup-id", backup_id, cwd=project, env=env).code == 0
    for name, sql in migrations.items():
        (project / "migrations" / f"{name}.sql").write_text(sql)
    results = tmp_path / "results"
    (results / "pgwarden-plan-production").mkdir(parents=True)
    run = results / "pgwarden-migrate-production-default"
    run.mkdir()
    plan = cli("plan", "--format", "json", cwd=project, env=env)
    (results / "pgwarden-plan-production" / "plan.json").write_text(plan.stdout)
    backup = cli("backup", "--format", "json", cwd=project, env=env)
    (run / "backup.json").write_text(backup.stdout)
    this_deploys_backup = json.loads(backup.stdout)["id"]
    for step, args in (("deploy", ["--backup-id", this_deploys_backup]), ("verify", [])):
        (run / f"{step}.json").write_text(cli(step, *args, "--format", "json", cwd=project, env=env).stdout)
    return results, this_deploys_backup


def test_a_real_failed_deploy_says_what_changed_and_what_to_do(cli, db, tmp_path: Path) -> None:
    results, backup_id = _real_run(cli, db, tmp_path, {
        "0002_tag": "ALTER TABLE orders ADD COLUMN tag text;\n",
        "0003_total": "ALTER TABLE orders ADD COLUMN total numeric;\nUPDATE orders SET total = 1/0 WHERE id = 7;\n"})
    text = rc.render_report(cases.info("failed"), rr.load_results(results))
    assert "## ❌ Failed · pgwarden migrate → `production`" in text
    assert "❌ **pgwarden deploy failed** on `0003_total`: division by zero" in text
    assert ("**`production` changed**: 1 migration applied (`0002_tag`) before `0003_total` failed; "
            "`0003_total` ran in a transaction and rolled back.") in text
    assert "run `pgwarden resolve 0003_total --rolled-back` against `production`" in text
    # The restore pointer is the backup taken before this deploy, not the one of the first deploy.
    assert f"pgwarden restore --backup-id {backup_id} --confirm {db.name}" in text
    assert "<details><summary>SQL (2 lines)</summary>\n\n```sql\nALTER TABLE orders ADD COLUMN total numeric;" in text
    assert "#### ✅ applied · `0002_tag`" in text and "#### ❌ failed · `0003_total`" in text


def test_a_real_deploy_that_changed_nothing_offers_no_restore(cli, db, tmp_path: Path) -> None:
    results, _ = _real_run(cli, db, tmp_path, {"0002_bad": "ALTER TABLE orders ADD COLUMN n int NOT NULL;\n"})
    text = rc.render_report(cases.info("failed"), rr.load_results(results))
    assert "**`production` is unchanged**: `0002_bad` ran in a transaction and rolled back" in text
    assert "pgwarden resolve 0002_bad --rolled-back" in text
    assert "pgwarden restore" not in text


def test_a_review_only_pull_request_does_not_claim_to_wait_for_approval(tmp_path: Path) -> None:
    """On pull_request the workflow reviews; the deploy (and its approval) comes with the merge."""
    results = rr.load_results(cases.write_run(tmp_path, "awaiting"))
    review = dataclasses.replace(cases.info("awaiting"), event="pull_request")
    text = rc.render_report(review, results)
    assert "## ✅ Review passed · pgwarden migrate → `production`" in text
    assert "Merging deploys the 2 migrations below to `production`" in text
    assert "waiting for approval" not in text
    # A caller that deploys from the branch (deploy-on-pull-request) says so: the job waits now.
    deploys = dataclasses.replace(review, outcomes={**review.outcomes, "migrate": "pending"})
    assert "Risk review passed: waiting for approval of `production`." in rc.render_report(deploys, results)
