"""The rehearsal in the PR comment and the step summary: one headline under the verdict, a collapsed
table per migration, and the approval blocked when it measured a failure or a long lock.

Snapshots (tests/github/snapshots/rehearsal-<state>.md) are reviewed as a diff when they change;
PGWARDEN_UPDATE_SNAPSHOTS=1 rewrites them. The tables are measured as GitHub would draw them
(cmark-gfm, tests/github/comment_width.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgwarden.config import IgnoreEntry
from pgwarden.report import comment as rc
from pgwarden.report import results as rr
from tests.github import comment_cases as cases
from tests.github import rehearsal_cases as rcases
from tests.github.comment_width import COMMENT_WIDTH_PX, measured_with, render_gfm, table_widths

SNAPSHOTS = Path(__file__).parent / "snapshots"
STATES = ["passed", "blocked"]


@pytest.mark.parametrize("state", STATES)
def test_rehearsal_comment_snapshot(tmp_path: Path, state: str) -> None:
    text = rcases.render(tmp_path, state)
    snapshot = SNAPSHOTS / f"rehearsal-{state}.md"
    if os.environ.get("PGWARDEN_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.is_file(), f"no snapshot {snapshot}: run with PGWARDEN_UPDATE_SNAPSHOTS=1 and review it"
    assert text == snapshot.read_text(encoding="utf-8"), (
        f"the rehearsal-{state} comment changed: review the diff, then PGWARDEN_UPDATE_SNAPSHOTS=1 to accept it")


@pytest.mark.parametrize("state", STATES)
def test_every_table_fits_and_the_table_is_collapsed_as_github_renders_it(tmp_path: Path, state: str) -> None:
    text = rcases.render(tmp_path, state)
    tables = table_widths(text)
    too_wide = [t for t in tables if t.width > COMMENT_WIDTH_PX]
    assert not too_wide, "\n".join(
        f"{t.width:.0f}px > {COMMENT_WIDTH_PX}px ({measured_with()}): {t.widest_words()}" for t in too_wide)
    assert all(t.columns <= 4 for t in tables), [t.header for t in tables]
    assert any(t.header == ["migration", "result", "took", "measured"] for t in tables)
    html = render_gfm(text)
    # The per-migration table is inside a <details> GitHub keeps closed.
    start = html.index("<summary>Rehearsal: what each of the")
    assert html.rfind("<details>", 0, start) > html.rfind("</details>", 0, start)
    assert "<th>migration</th>" in html[start:html.index("</details>", start)]
    # The headline is a paragraph right under the verdict, before the review's basis.
    assert html.index("<strong>Rehearsed</strong>") < html.index("Reviewed against live data")


def test_a_passed_rehearsal_says_so_under_the_verdict(tmp_path: Path) -> None:
    text = rcases.render(tmp_path, "passed")
    head = text.split("```mermaid")[0]
    assert "## ⏳ Awaiting approval · pgwarden migrate → `production`" in head
    assert ("✅ **Rehearsed** on a copy of production taken 4min 05s ago (backup `20261202T154000Z-4f2a9c`): all 2 "
            "migrations applied in 2.9s, no lock blocked queries on an existing table for more than 2.0s "
            "(rehearsal.max_lock).") in head
    assert 'rehearse["rehearse ✅"]' in text and "plan --> rehearse --> approval" in text


def test_a_failure_or_a_long_lock_blocks_the_approval(tmp_path: Path) -> None:
    text = rcases.render(tmp_path, "blocked")
    head = text.split("```mermaid")[0]
    assert "## ⛔ Blocked by the rehearsal · pgwarden migrate → `production`" in head
    assert ("Blocked by the rehearsal on a copy of production: 2 measured findings at or above high (below). "
            "Nothing was deployed") in head
    assert (f"`{cases.BACKFILL}` took 42.3s and held an ACCESS EXCLUSIVE lock on Post for 41.2s (every query on "
            "Post waits that long, reads included)") in head
    assert f"`{cases.INDEX}` fails after 12.6s: duplicate key (23505); 1 other applied with no lock over 2.0s." in head
    assert 'rehearse["rehearse ⛔"]' in text
    assert f"| `{cases.INDEX}` | ❌ failed | 12.6s | duplicate key (23505): could not create unique index" in text


def test_never_the_data(tmp_path: Path) -> None:
    """DETAIL and key values a tool echoed into the report never reach the comment."""
    root = rcases.write_run(tmp_path, "blocked")
    path = root / "pgwarden-rehearse-production-default" / "rehearse.json"
    doc = json.loads(path.read_text())
    doc["migrations"][2]["error"] = ('ERROR: could not create unique index "k"\nDETAIL: Key ("authorId")=(42) '
                                     "is duplicated.")
    path.write_text(json.dumps(doc))
    text = rc.render_report(rcases.info("blocked"), rr.load_results(root))
    assert "is duplicated" not in text and "=(42)" not in text and "DETAIL" not in text


def test_a_rehearsal_that_did_not_complete_blocks_with_its_reason(tmp_path: Path) -> None:
    root = rcases.write_run(tmp_path, "passed")
    folder = root / "pgwarden-rehearse-production-default"
    (folder / "rehearse.json").write_text(json.dumps(
        {"version": 1, "step": "rehearse", "ok": False, "exit_code": 4,
         "error": {"kind": "refused", "message": "no verified backup of shop within 26h",
                   "hint": "run pgwarden backup first"}}))
    (folder / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": {"rehearse": "failure"}}))
    results = rr.load_results(root)
    assert [t.name for t in results.targets] == ["default"]
    text = rc.render_report(rcases.info("blocked"), results)
    assert "## ⛔ Blocked by the rehearsal" in text
    assert "the rehearsal did not complete, so nothing was measured" in text
    assert ("❌ **The rehearsal did not complete**, nothing was measured: **refused** (exit code 4): no verified "
            "backup of shop within 26h — **hint:** run pgwarden backup first") in text


def test_the_rehearse_and_migrate_artifacts_of_one_target_are_one_target(tmp_path: Path) -> None:
    root = cases.write_run(tmp_path, "deployed")
    folder = root / "pgwarden-rehearse-production-default"
    folder.mkdir()
    (folder / "rehearse.json").write_text(json.dumps(rcases.rehearse_document("passed")))
    (folder / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": {"rehearse": "success"}}))
    results = rr.load_results(root)
    [target] = results.targets
    assert target.rehearsal is not None and target.backup is not None
    assert target.outcome("deploy") == "success" and target.outcome("rehearse") == "success"
    text = rc.render_report(cases.info("deployed"), results)
    assert "## ✅ Deployed" in text and "✅ **Rehearsed** on a copy of production" in text
    assert ("- [x] Dry run on a test or staging environment — rehearsed on a copy of production: 2 applied "
            "(backup 20261202T154000Z-4f2a9c)") in text


def test_a_long_lock_waived_with_a_reason_or_under_a_raised_max_lock_does_not_block(tmp_path: Path) -> None:
    root = rcases.write_run(tmp_path, "blocked")
    doc = json.loads((root / "pgwarden-rehearse-production-default" / "rehearse.json").read_text())
    doc["migrations"] = doc["migrations"][:2]  # no failure: only the 41 s lock
    doc["ok"] = True
    (root / "pgwarden-rehearse-production-default" / "rehearse.json").write_text(json.dumps(doc))
    info = rcases.info("passed")
    assert rc.state(info, rr.load_results(root)) == "rehearsal-blocked"
    info.ignores = (IgnoreEntry("rehearsal-long-lock", cases.BACKFILL, None),)  # no reason: no waiver
    assert rc.state(info, rr.load_results(root)) == "rehearsal-blocked"
    info.ignores = (IgnoreEntry("rehearsal-long-lock", cases.BACKFILL, "backfill runs in the 02:00 window"),)
    assert rc.state(info, rr.load_results(root)) == "awaiting-approval"
    info.ignores = ()
    info.rehearsal_max_lock_s = 60.0
    assert rc.state(info, rr.load_results(root)) == "awaiting-approval"


def test_the_step_summary_at_the_plan_stage_is_the_rehearsal(tmp_path: Path) -> None:
    results = rr.load_results(rcases.write_run(tmp_path, "passed"))
    summary = rc.render_summary(rcases.info("passed"), results)
    assert summary.startswith("### pgwarden rehearsal\n\n✅ **Rehearsed** on a copy of production")
    assert "<summary>Rehearsal: what each of the 2 migrations did on the copy" in summary
    assert "Awaiting approval" not in summary
    blocked = rc.render_summary(rcases.info("blocked"), rr.load_results(rcases.write_run(tmp_path / "b", "blocked")))
    assert "Blocked by the rehearsal" in blocked and "fails after 12.6s: duplicate key (23505)" in blocked


def test_render_outputs_the_state_the_workflow_stops_on(cli, tmp_path: Path) -> None:
    root = rcases.write_run(tmp_path / "run", "blocked")
    outputs = tmp_path / "outputs"
    result = cli("report", "render", "--stage", "plan", "--results", str(root), "--output", "report.md",
                 cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": "", "GITHUB_OUTPUT": str(outputs)})
    assert result.code == 0, result.stderr
    assert {"state=rehearsal-blocked", "blocked=true"} <= set(outputs.read_text().splitlines())
    assert "Blocked by the rehearsal" in (tmp_path / "report.md").read_text()


def test_in_fleet_mode_each_target_has_its_headline_and_table(tmp_path: Path) -> None:
    root = rcases.write_run(tmp_path, "passed")
    (root / "pgwarden-rehearse-production-default").rename(root / "pgwarden-rehearse-production-eu")
    (root / "pgwarden-rehearse-production-eu" / "outcomes.json").write_text(
        json.dumps({"target": "eu", "outcomes": {"rehearse": "success"}}))
    us = root / "pgwarden-rehearse-production-us"
    us.mkdir()
    (us / "rehearse.json").write_text(json.dumps(rcases.rehearse_document("blocked")))
    (us / "outcomes.json").write_text(json.dumps({"target": "us", "outcomes": {"rehearse": "failure"}}))
    results = rr.load_results(root)
    assert [t.name for t in results.targets] == ["eu", "us"]
    text = rc.render_report(rcases.info("blocked"), results)
    assert "**eu**: ✅ **Rehearsed** on a copy of production" in text
    assert "**us**: ❌ **Rehearsed** on a copy of production" in text
    assert "<details><summary>eu: Rehearsal: what each of the 2 migrations" in text
    assert "<details><summary>us: Rehearsal: what each of the 3 migrations" in text
    assert "## ⛔ Blocked by the rehearsal" in text
