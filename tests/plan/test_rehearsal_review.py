"""``plan --rehearsal FILE``: a rehearsal's measured facts become findings and a summary in every format.

The rehearsal documents have the shape ``pgwarden rehearse --format json`` prints (issue 14's
contract); a file that is not one is a usage error naming the file and what is wrong (exit 2),
never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pgwarden.config import IgnoreEntry, Settings
from pgwarden.errors import ConfigError
from pgwarden.pipeline.plan import plan_migrations
from pgwarden.pipeline.plan_rehearsal import load_rehearsal, rehearsal_review
from pgwarden.records import Migration, PlanReport
from pgwarden.rehearsal import RehearsalReport
from pgwarden.report.markdown import render_markdown
from pgwarden.report.sarif import render_sarif
from pgwarden.report.text import render_text

MIGRATIONS = {
    "0002_backfill": "ALTER TABLE orders ADD COLUMN total numeric;\nUPDATE orders SET total = 0;\n",
    "0003_unique_note": "CREATE TABLE audit (id bigint);\nCREATE UNIQUE INDEX orders_note_key ON orders (note);\n",
    "0004_more": "ALTER TABLE orders ADD COLUMN x int;\n",
}


def rehearsal_document(*, failed: bool = True, dropped: bool = True, names: tuple[str, ...] = tuple(MIGRATIONS),
                       backfill_lock_s: float = 41.2) -> dict[str, Any]:
    """A rehearsal of the three migrations: a long ACCESS EXCLUSIVE lock, then (``failed``) a 23505."""
    first, second, third = names
    migrations: list[dict[str, Any]] = [
        {"name": first, "status": "applied", "duration_s": backfill_lock_s + 1.1, "error": None, "sqlstate": None,
         "locks": [{"table": "public.orders", "mode": "AccessExclusiveLock", "held_s": backfill_lock_s}],
         "rewritten": [], "statements": [], "rows_written": 1_200_000, "wal_bytes": 430_000_000,
         "measured_with": []},
    ]
    if failed:
        migrations += [
            {"name": second, "status": "failed", "duration_s": 3.1, "sqlstate": "23505",
             "error": 'could not create unique index "orders_note_key"',
             "locks": [{"table": "public.audit", "mode": "AccessExclusiveLock", "held_s": 3.0},
                       {"table": "public.orders", "mode": "ShareLock", "held_s": 3.0}]},
            {"name": third, "status": "not-run", "duration_s": None},
        ]
    else:
        migrations += [{"name": n, "status": "applied", "duration_s": 0.2,
                        "locks": [{"table": "public.orders", "mode": "AccessExclusiveLock", "held_s": 0.1}]}
                       for n in (second, third)]
    return {"version": 1, "backup_id": "20261202T154000Z-4f2a9c",
            "scratch_database": "pgwarden_rehearse_20261202T154000Z-4f2a9c_1a2b", "dropped": dropped,
            "migrations": migrations, "ok": not failed, "database": "shop", "server": "db.internal:5432",
            "backup_taken_at": "2026-12-02T15:40:00Z", "rehearsed_at": "2026-12-02T15:44:05Z", "restore_s": 81.5,
            "migrate_s": 45.6, "sample_interval_s": 0.01, "tool": "sql", "a_key_from_a_later_version": True}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, sql in MIGRATIONS.items():
        (folder / f"{name}.sql").write_text(sql)
    return tmp_path


def _plan(project: Path, document: dict[str, Any], settings: Settings | None = None) -> PlanReport:
    rehearsal = RehearsalReport.from_json(document)
    return plan_migrations(settings or Settings(), paths=[str(project / "migrations")], rehearsal=rehearsal)


def test_a_failure_and_a_long_lock_are_findings_that_block(project: Path) -> None:
    report = _plan(project, rehearsal_document())
    measured = {f.rule: f for f in report.findings if f.rule.startswith("rehearsal-")}
    assert set(measured) == {"rehearsal-failed", "rehearsal-long-lock"}
    assert measured["rehearsal-failed"].severity.value == "critical"
    assert measured["rehearsal-failed"].migration == "0003_unique_note"
    assert measured["rehearsal-failed"].file.endswith("0003_unique_note.sql")  # type: ignore[union-attr]
    lock = measured["rehearsal-long-lock"]
    assert (lock.severity.value, lock.migration, lock.table) == ("high", "0002_backfill", "orders")
    assert "held an ACCESS EXCLUSIVE lock on orders for 41.2s" in lock.message
    assert report.blocked and report.max_severity is not None and report.max_severity.value == "critical"
    # The audit table is created by 0003: its ACCESS EXCLUSIVE lock blocks nobody.
    assert not any(f.table == "audit" for f in measured.values())
    assert report.rehearsal is not None and report.rehearsal_max_lock_s == 2.0


def test_the_threshold_is_rehearsal_max_lock_and_a_clean_rehearsal_adds_nothing(project: Path) -> None:
    settings = Settings()
    settings.rehearsal.max_lock = 60.0
    relaxed = _plan(project, rehearsal_document(failed=False), settings)
    assert not [f for f in relaxed.findings if f.rule.startswith("rehearsal-")]
    assert relaxed.rehearsal_max_lock_s == 60.0
    without = plan_migrations(Settings(), paths=[str(project / "migrations")])
    assert [f.rule for f in relaxed.findings] == [f.rule for f in without.findings]


def test_a_reasoned_ignore_waives_a_measured_finding(project: Path) -> None:
    settings = Settings()
    settings.risk.ignore = [IgnoreEntry("rehearsal-long-lock", "0002_backfill", "maintenance window 02:00-02:05"),
                            IgnoreEntry("rehearsal-failed", None, None)]  # no reason: waives nothing
    report = _plan(project, rehearsal_document(), settings)
    assert [f.rule for f in report.waived] == ["rehearsal-long-lock"]
    assert report.waived[0].waived_reason == "maintenance window 02:00-02:05"
    assert "rehearsal-long-lock" not in {f.rule for f in report.findings}
    assert "rehearsal-failed" in {f.rule for f in report.findings} and report.blocked


def test_the_json_document_carries_the_rehearsal_and_reads_back(project: Path) -> None:
    report = _plan(project, rehearsal_document())
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["rehearsal"]["backup_id"] == "20261202T154000Z-4f2a9c"
    assert doc["rehearsal"]["max_lock_s"] == 2.0
    assert [m["status"] for m in doc["rehearsal"]["migrations"]] == ["applied", "failed", "not-run"]
    back = PlanReport.from_json(doc)
    assert back.rehearsal is not None and report.rehearsal is not None
    assert back.rehearsal.to_json() == report.rehearsal.to_json() and back.rehearsal_max_lock_s == 2.0
    assert PlanReport.from_json({**doc, "rehearsal": None}).rehearsal is None
    assert plan_migrations(Settings(), paths=[str(project / "migrations")]).to_json()["rehearsal"] is None


def test_text_markdown_and_sarif_show_it(project: Path) -> None:
    report = _plan(project, rehearsal_document())
    text = " ".join(render_text(report).split())  # wrapped at 100 columns, aligned
    assert ("rehearsal: on a copy of production taken 4min 05s before the rehearsal (backup "
            "20261202T154000Z-4f2a9c): 0002_backfill took 42.3s and held an ACCESS EXCLUSIVE lock on orders") in text
    assert "failed 0003_unique_note 3.1s duplicate key (23505): could not create unique index" in text
    assert "applied 0002_backfill 42.3s LONG ACCESS EXCLUSIVE on orders 41.2s; 1,200,000 rows written" in text
    assert "not-run 0004_more -" in text
    markdown = render_markdown(report)
    assert ("❌ **Rehearsed** on a copy of production taken 4min 05s before the rehearsal (backup "
            "`20261202T154000Z-4f2a9c`): `0002_backfill` took 42.3s") in markdown
    assert "`0003_unique_note` fails after 3.1s: duplicate key (23505); 1 not run after the failure." in markdown
    assert "<details><summary>Rehearsal: what each of the 3 migrations did on the copy" in markdown
    assert "| `0002_backfill` | ✅ applied | 42.3s | ⚠️ ACCESS EXCLUSIVE on `orders` 41.2s<br>" in markdown
    assert "ACCESS EXCLUSIVE on `audit` (new table) 3.0s" in markdown
    sarif = render_sarif(report)
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"rehearsal-failed", "rehearsal-long-lock"} <= rules
    bag = sarif["runs"][0]["properties"]["rehearsal"]
    assert bag["summary"].startswith("rehearsal: on a copy of production taken 4min 05s before the rehearsal")
    assert bag["backup_id"] == "20261202T154000Z-4f2a9c" and bag["max_lock_s"] == 2.0
    assert "properties" not in render_sarif(plan_migrations(Settings(), paths=[str(project / "migrations")]))["runs"][0]


def test_notes_when_the_rehearsal_does_not_match_the_plan_or_left_its_copy(project: Path) -> None:
    other = rehearsal_document(failed=False, dropped=False, names=("0002_backfill", "0009_elsewhere", "0010_x"))
    report = _plan(project, other)
    notes = " ".join(report.notes)
    assert "ran 2 migration(s) this plan does not have pending (0009_elsewhere, 0010_x)" in notes
    assert "pgwarden_rehearse_20261202T154000Z-4f2a9c_1a2b was not dropped" in notes
    assert "NOT dropped" in render_markdown(report)


def test_a_live_plan_notes_a_pending_migration_the_rehearsal_did_not_run() -> None:
    pending = [Migration(name, f"migrations/{name}.sql", sql=sql) for name, sql in MIGRATIONS.items()]
    rehearsal = RehearsalReport.from_json(rehearsal_document(failed=False))
    rehearsal = dataclasses.replace(rehearsal, migrations=rehearsal.migrations[:2])
    notes = rehearsal_review(rehearsal, pending, pending, 2.0, live=True).notes
    assert notes == ["1 pending migration(s) were not rehearsed (0004_more): rehearse this commit again to "
                     "measure them."]
    assert rehearsal_review(rehearsal, pending, pending, 2.0, live=False).notes == []  # static: all listed pend


# --- the command line -----------------------------------------------------------------------------

def _cli_plan(cli, project: Path, *args: str):
    return cli("plan", *args, "migrations", cwd=project, env={"DATABASE_URL": ""})


def test_cli_adds_the_findings_and_exits_3(cli, project: Path) -> None:
    (project / "rehearse.json").write_text(json.dumps(rehearsal_document()))
    result = _cli_plan(cli, project, "--rehearsal", "rehearse.json", "--format", "json")
    assert result.code == 3, result.stderr
    doc = json.loads(result.stdout)
    assert {"rehearsal-failed", "rehearsal-long-lock"} <= {f["rule"] for f in doc["findings"]}
    assert doc["rehearsal"]["scratch_database"].startswith("pgwarden_rehearse_")
    clean = project / "clean.json"
    clean.write_text(json.dumps(rehearsal_document(failed=False, backfill_lock_s=0.5)))
    assert _cli_plan(cli, project, "--rehearsal", str(clean), "--fail-on", "critical").code == 0


BAD_FILES = {
    "missing": (None, "no such file"),
    "empty": ("", "not JSON (Expecting value at line 1, column 1)"),
    "not json": ("{version: 1", "not JSON"),
    "a list": ("[]", "not a rehearsal report (rehearsal: expected an object, got list)"),
    "a plan report": (json.dumps({"version": 1, "findings": [], "migrations": []}),
                      "a plan report (pgwarden plan --format json), not a rehearsal report"),
    "a wrong shape": (json.dumps({**rehearsal_document(), "dropped": "yes"}),
                      "not a rehearsal report (rehearsal: dropped: expected true or false, got 'yes')"),
    "a wrong status": (json.dumps({**rehearsal_document(), "migrations": [{"name": "a", "status": "done",
                                                                          "duration_s": 1}]}),
                       "not a rehearsal report (status: expected one of applied, failed, not-run, got 'done')"),
    "the rehearsal's error document": (
        json.dumps({"version": 1, "step": "rehearse", "ok": False, "exit_code": 4,
                    "error": {"kind": "refused", "message": "no verified backup of shop within 26h",
                              "hint": "run pgwarden backup"}}),
        "the rehearsal did not run: no verified backup of shop within 26h"),
    "not UTF-8": (b"\xff\xfe{", "not UTF-8 text (byte 0)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_rehearsal_file_is_exit_2_naming_it(cli, project: Path, case: str) -> None:
    content, said = BAD_FILES[case]
    path = project / "rehearse.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    for fmt in ("text", "json"):
        result = _cli_plan(cli, project, "--rehearsal", "rehearse.json", "--format", fmt)
        assert result.code == 2, (case, result.output)
        assert "Traceback" not in result.output
        assert f"--rehearsal rehearse.json: {said}" in result.output, result.output
    with pytest.raises(ConfigError):
        load_rehearsal(path)


def test_a_folder_is_exit_2(cli, project: Path) -> None:
    result = _cli_plan(cli, project, "--rehearsal", "migrations")
    assert result.code == 2 and "--rehearsal migrations: is a folder, not a file" in result.output
