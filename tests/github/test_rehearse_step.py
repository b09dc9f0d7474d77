"""`pgwarden report step rehearse`: the rehearse action's outputs, summary and annotations.

The workflow's rehearse job reads ``failed-count`` (empty when the rehearsal printed no report)
and shows ``longest-lock`` in its stop message; a copy that was not dropped is a warning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pgwarden.errors import ErrorReport
from pgwarden.rehearsal import LockHeld, RehearsalReport, RehearsedMigration
from tests.fix_cli import CliResult

Cli = Callable[..., CliResult]


def _report(*migrations: RehearsedMigration, dropped: bool = True) -> RehearsalReport:
    return RehearsalReport(version=1, backup_id="20260101T000000Z-abc123", scratch_database="pgwarden_rehearse_x",
                           dropped=dropped, migrations=list(migrations), database="shop", migrate_s=42.5)


def _step(cli: Cli, tmp_path: Path, document: dict, code: int) -> tuple[CliResult, str, dict[str, str]]:
    results = tmp_path / "run"
    results.mkdir()
    (results / "rehearse.json").write_text(json.dumps(document))
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    result = cli("report", "step", "rehearse", "--results", str(results), "--exit-code", str(code),
                 env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    assert result.code == 0, result.stderr
    pairs = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return result, summary.read_text(), pairs


def test_a_clean_rehearsal_gives_the_counts_and_the_longest_lock(cli: Cli, tmp_path: Path) -> None:
    report = _report(
        RehearsedMigration("0002_backfill", "applied", 41.8,
                           locks=[LockHeld("public.orders", "AccessExclusiveLock", 41.2),
                                  LockHeld("public.items", "RowExclusiveLock", 0.4)]),
        RehearsedMigration("0003_index", "applied", 0.7, locks=[LockHeld("public.items", "ShareLock", 0.6)]),
    )
    result, summary, outputs = _step(cli, tmp_path, report.to_json(), 0)

    assert outputs["failed-count"] == "0" and outputs["applied-count"] == "2" and outputs["ok"] == "true"
    assert outputs["longest-lock-s"] == "41.200"
    assert outputs["longest-lock"] == "ACCESS EXCLUSIVE on public.orders for 41.2s by 0002_backfill"
    assert outputs["backup-id"] == "20260101T000000Z-abc123"
    assert "## ✅ pgwarden rehearse" in summary and "2 migrations applied on the copy" in summary
    assert "::error" not in result.stdout and "::warning" not in result.stdout


def test_a_migration_that_failed_on_the_copy_is_the_headline(cli: Cli, tmp_path: Path) -> None:
    report = _report(
        RehearsedMigration("0002_unique_sku", "failed", 0.2, error='could not create unique index "items_sku"',
                           sqlstate="23505"),
        RehearsedMigration("0003_later", "not-run", None),
    )
    result, summary, outputs = _step(cli, tmp_path, report.to_json(), 1)

    assert outputs["failed-count"] == "1" and outputs["applied-count"] == "0" and outputs["ok"] == "false"
    assert outputs["longest-lock-s"] == "" and outputs["longest-lock"] == ""
    headline = '0002_unique_sku failed on the copy of production: could not create unique index "items_sku" (23505)'
    assert headline in summary and "## ❌ pgwarden rehearse" in summary
    assert any(line.startswith("::error ") and "0002_unique_sku failed on the copy" in line
               for line in result.stdout.splitlines())
    written = RehearsalReport.from_json(json.loads((tmp_path / "run" / "rehearse.json").read_text()))
    assert written.failed is not None and written.failed.sqlstate == "23505", "the comment reads it back"


def test_a_rehearsal_that_did_not_run_has_no_counts(cli: Cli, tmp_path: Path) -> None:
    refusal = ErrorReport("rehearse", 4, "no verified backup of shop within 26h", "run pgwarden backup first")
    _, summary, outputs = _step(cli, tmp_path, refusal.to_json(), 4)

    assert outputs["failed-count"] == "" and outputs["longest-lock-s"] == "" and outputs["ok"] == "false"
    assert "**refused** (exit code 4)" in summary and "no verified backup of shop" in summary


def test_a_copy_that_was_not_dropped_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    result, _, _ = _step(cli, tmp_path, _report(RehearsedMigration("0002", "applied", 1.0), dropped=False).to_json(), 0)
    [warning] = [line for line in result.stdout.splitlines() if line.startswith("::warning ")]
    assert "pgwarden_rehearse_x" in warning and "not dropped" in warning
