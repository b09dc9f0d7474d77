"""Drill, backups list/show/prune, progress lines and --help examples, through the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pgwarden.manifest import BackupManifest, decide_prune, new_backup_id
from tests.backup.helpers import create_rich

CONFIG = """\
backup:
  store: file://./backups
  retention: {days: 0, keep_last: 1}
verify:
  checks:
    - {name: customers present, sql: "select count(*) > 0 from customers"}
    - {name: invoice total, sql: "select count(*) from billing.invoices", expect: "5000"}
"""


def test_drill_restores_checks_and_drops(db, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    env = {"DATABASE_URL": db.url}
    assert cli("backup", cwd=tmp_path, env=env).code == 0
    result = cli("drill", "--format", "json", cwd=tmp_path, env=env)
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["step"] == "drill"
    names = {c["name"]: c["ok"] for c in report["checks"]}
    assert names["customers present"] and names["invoice total"] and names["row counts match the backup"]
    assert db.scalar("select count(*) from pg_database where datname like 'pgwarden_drill_%'") == 0
    stale = cli("drill", "--max-age", "0s", cwd=tmp_path, env=env)
    assert stale.code == 1 and "backup age" in stale.stdout


def test_drill_without_backups_fails(db, tmp_path: Path, cli) -> None:
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    result = cli("drill", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 1 and "no verified backup" in result.stderr


def test_prune_keeps_newest_verified_and_says_what_it_deleted(db, tmp_path: Path, cli) -> None:
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    env = {"DATABASE_URL": db.url}
    ids = []
    for _ in range(3):
        made = cli("backup", "--format", "json", cwd=tmp_path, env=env)
        ids.append(json.loads(made.stdout)["id"])
    shown = cli("backups", "show", "latest", "--format", "json", cwd=tmp_path)
    assert json.loads(shown.stdout)["id"] == ids[-1]
    dry = cli("backups", "prune", "--dry-run", cwd=tmp_path)
    assert dry.code == 0 and f"would delete {ids[0]}" in dry.stderr
    assert len(list((tmp_path / "backups").iterdir())) == 3
    pruned = cli("backups", "prune", "--format", "json", cwd=tmp_path)
    report = json.loads(pruned.stdout)
    assert sorted(report["deleted"]) == sorted(ids[:2]) and report["kept"] == [ids[2]]
    assert f"deleted {ids[0]}" in pruned.stderr
    listed = cli("backups", "list", cwd=tmp_path)
    assert ids[2] in listed.stdout and ids[0] not in listed.stdout
    missing = cli("backups", "show", ids[0], cwd=tmp_path)
    assert missing.code == 1 and ids[0] in missing.stderr and "not found" in missing.stderr


def _manifest(days_old: float, verified: bool = True) -> BackupManifest:
    moment = dt.datetime(2026, 1, 31, tzinfo=dt.timezone.utc) - dt.timedelta(days=days_old)
    return BackupManifest(id=new_backup_id(moment), created_at=moment.isoformat(), database="d",
                          server_version="18.1", pg_dump_version="18.1", format="custom", compression="zstd",
                          verified=verified)


def test_retention_never_deletes_newest_verified() -> None:
    now = dt.datetime(2026, 1, 31, tzinfo=dt.timezone.utc)
    old_good = _manifest(40)
    newer_bad = [_manifest(d, verified=False) for d in (1, 2, 3)]
    decision = decide_prune([old_good, *newer_bad], [], days=30, keep_last=2, now=now)
    assert old_good.id in decision.keep
    assert "never pruned" in decision.reasons[old_good.id]
    newest_good = _manifest(31)
    decision = decide_prune([old_good, _manifest(35), newest_good], ["20250101T000000Z-abcdef"],
                            days=30, keep_last=0, now=now)
    assert decision.keep == [newest_good.id]
    assert len(decision.delete) == 3 and "20250101T000000Z-abcdef" in decision.delete


def test_progress_lines_are_plain(db, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    result = cli("backup", cwd=tmp_path, env={"DATABASE_URL": db.url, "PGWARDEN_PROGRESS_INTERVAL": "0.001"})
    assert result.code == 0
    assert "\x1b" not in result.output and "\r" not in result.output
    assert "tables" in result.output and "iB" in result.output  # KiB or MiB: units.format_bytes


@pytest.mark.parametrize("command", ["backup", "restore", "backups", "drill"])
def test_help_has_an_example(command: str, cli) -> None:
    result = cli(command, "--help")
    assert result.code == 0 and "example:" in result.stdout and f"pgwarden {command}" in result.stdout


def test_bad_compress_is_a_usage_error(db, tmp_path: Path, cli) -> None:
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    result = cli("backup", "--compress", "brotli", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 2 and "zstd" in result.stderr
