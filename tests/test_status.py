"""`pgwarden status`: migrations, the newest verified backup and the last deploys, read-only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.deploy import run_deploy
from tests.deploy.helpers import add_migration, write_project
from tests.fix_cli import CliResult
from tests.fix_pg import TestDatabase


def test_status_shows_pending_backup_and_last_deploy(
    db: TestDatabase, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    settings = write_project(tmp_path, {"0001_init": "create table t (id int primary key);"})
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="first deploy").ok
    backup = take_backup(settings, target)
    add_migration(settings, "0002_more", "alter table t add column x int;")

    result = cli("status", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 0, result.output
    status = json.loads(result.stdout)
    assert status["migrations"]["applied"] == ["0001_init"]
    assert status["migrations"]["pending"] == ["0002_more"]
    assert status["migrations"]["head"] == "0001_init"
    assert status["latest_backup"]["id"] == backup.id
    assert status["last_deploys"][0]["no_backup_reason"] == "first deploy"
    assert {c["name"]: c["warning"] for c in status["checks"] if not c["ok"]} == {"no pending migration": True}

    text = cli("status", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert "1 applied, 1 pending, 0 failed, 0 unknown; head 0001_init" in text.stdout
    assert "pending  0002_more" in text.stdout
    assert f"backup     {backup.id}" in text.stdout
    assert "succeeded by" in text.stdout and "backup none (first deploy)" in text.stdout


def test_status_flags_a_failed_migration_as_exit_1(
    db: TestDatabase, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    settings = write_project(tmp_path, {"0001_bad": "insert into nope values (1);"})
    assert not run_deploy(settings, DatabaseTarget.from_url(db.url), no_backup_reason="test").ok
    result = cli("status", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 1
    assert "PROBLEM  0001_bad" in result.stdout and "no failed migration" in result.stdout
