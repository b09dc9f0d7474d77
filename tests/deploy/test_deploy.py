"""run_deploy against a real PostgreSQL: success, failure midway, refusals, audit trail."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pgwarden.audit import last_deploys
from pgwarden.config import load_settings
from pgwarden.errors import ConfigError, SafetyRefusal
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.deploy import run_deploy
from tests.deploy.helpers import add_migration, audit_lines, verified_backup, write_project

INIT = "create table users (id bigserial primary key, email text not null);\n" \
       "insert into users (email) select 'u' || g || '@example.com' from generate_series(1, 50) g;\n"
ADD_NAME = "alter table users add column name text;\n"
BROKEN = "alter table users add column nick text;\nalter table no_such_table add column x int;\n"

HOOKS = """\
  hooks:
    pre: echo maintenance on >> hooks.log
    post: echo maintenance off >> hooks.log
    on_failure: echo on_failure ran >> hooks.log
"""


def test_deploy_succeeds_with_backup_and_records_everything(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    run_deploy(settings, target, no_backup_reason="empty database, first deploy", run_id="r1")
    add_migration(settings, "0002_add_name", ADD_NAME)
    backup = verified_backup(settings, target)
    lines: list[str] = []

    result = run_deploy(settings, target, backup_id=backup.id, environment="production", run_id="r2",
                        progress=lines.append)

    assert result.ok, result.summary
    assert result.details["applied"] == ["0002_add_name"]
    assert result.details["backup_id"] == backup.id
    assert result.details["restore_command"] == f"pgwarden restore --backup-id {backup.id} --confirm {db.name}"
    assert result.details["max_wait_s"] < 1.0
    assert db.scalar("select count(*) from information_schema.columns where table_name = 'users' "
                     "and column_name = 'name'") == 1
    assert any("1 pending: 0002_add_name" in line for line in lines)
    # pgwarden_history: one row per deploy, newest first, for `pgwarden status`.
    with db.connect() as conn:
        deploys = last_deploys(conn, 5)
    assert [d["run_id"] for d in deploys] == ["r2", "r1"]
    assert deploys[0]["outcome"] == "succeeded"
    assert deploys[0]["environment"] == "production"
    assert deploys[0]["migrations_applied"] == ["0002_add_name"]
    assert deploys[0]["backup_id"] == backup.id
    assert deploys[1]["no_backup_reason"] == "empty database, first deploy"
    # The JSONL audit log: one line per step with who/where/what.
    log = [line for line in audit_lines(settings) if line["run_id"] == "r2"]
    assert [line["action"] for line in log] == ["preconditions", "preflight", "migrate", "deploy"]
    assert all(line["environment"] == "production" and line["actor"] for line in log)
    assert log[-1]["outcome"] == "succeeded" and "duration_s" in log[-1]


def test_nothing_pending_is_a_quiet_success(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    run_deploy(settings, target, no_backup_reason="first")
    result = run_deploy(settings, target, no_backup_reason="second")
    assert result.ok and result.details["applied"] == []
    assert "nothing to deploy" in result.summary


def test_failure_midway_reports_migration_history_hooks_and_restore_command(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT, "0002_add_name": ADD_NAME, "0003_broken": BROKEN},
                             extra=HOOKS)
    target = DatabaseTarget.from_url(db.url)
    backup = verified_backup(settings, target)

    result = run_deploy(settings, target, backup_id=backup.id)

    assert not result.ok
    assert result.details["applied"] == ["0001_init", "0002_add_name"]
    assert result.details["failed_migration"] == "0003_broken"
    assert "no_such_table" in result.details["error"]
    command = f"pgwarden restore --backup-id {backup.id} --confirm {db.name}"
    assert result.details["restore_command"] == command
    assert command in result.summary
    history = {row["name"]: row for row in result.details["history"]}
    assert history["0003_broken"]["finished_at"] is None and "no_such_table" in history["0003_broken"]["error"]
    assert history["0002_add_name"]["finished_at"] is not None
    # The failed file ran in one transaction: its first statement did not stick.
    assert db.scalar("select count(*) from information_schema.columns where column_name = 'nick'") == 0
    assert (tmp_path / "hooks.log").read_text().splitlines() == ["maintenance on", "on_failure ran"]
    assert [h["stage"] for h in result.details["hooks"]] == ["pre", "on_failure"]
    with db.connect() as conn:
        assert last_deploys(conn, 1)[0]["outcome"] == "failed"
        assert last_deploys(conn, 1)[0]["failed_migration"] == "0003_broken"
    # The next deploy refuses: the history records a failed migration.
    with pytest.raises(SafetyRefusal, match="0003_broken") as refused:
        run_deploy(settings, target, backup_id=backup.id)
    assert "pgwarden resolve 0003_broken --rolled-back" in str(refused.value)
    # Once fixed, --allow-failed-state lets it through.
    (settings.migrations_path / "0003_broken.sql").write_text("alter table users add column nick text;\n")
    db.execute("delete from pgwarden_migrations where name = '0003_broken'")
    assert run_deploy(settings, target, backup_id=backup.id).ok


def test_allow_failed_state(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT, "0002_broken": BROKEN})
    target = DatabaseTarget.from_url(db.url)
    assert not run_deploy(settings, target, no_backup_reason="test").ok
    (settings.migrations_path / "0002_broken.sql").write_text("alter table users add column nick text;\n")
    with pytest.raises(SafetyRefusal, match="failed migration"):
        run_deploy(settings, target, no_backup_reason="test")
    # The file was fixed: pgwarden re-runs a failed sql migration when told the state is sound.
    result = run_deploy(settings, target, no_backup_reason="test", allow_failed_state=True)
    assert result.ok and result.details["applied"] == ["0002_broken"]
    assert any(c.name == "no failed migration in the history" and c.warning for c in result.checks)


def test_failing_pre_hook_aborts_before_migrating(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT}, extra="")
    (tmp_path / "pgwarden.yml").write_text((tmp_path / "pgwarden.yml").read_text()
                                           + "  hooks:\n    pre: echo cannot enter maintenance; exit 3\n"
                                             "    on_failure: echo up >> hooks.log\n")
    settings = load_settings(tmp_path / "pgwarden.yml")
    result = run_deploy(settings, DatabaseTarget.from_url(db.url), no_backup_reason="test")
    assert not result.ok
    assert "pre hook failed (exit 3)" in result.summary
    assert result.details["applied"] == []
    assert "cannot enter maintenance" in result.details["hooks"][0]["output"]
    assert (tmp_path / "hooks.log").read_text() == "up\n"
    assert db.scalar("select to_regclass('users')") is None


def test_refuses_without_a_verified_backup_of_this_database(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    with pytest.raises(SafetyRefusal, match="no verified backup"):
        run_deploy(settings, target)
    other = verified_backup(settings, target, database="another_db")
    with pytest.raises(SafetyRefusal, match="not of"):
        run_deploy(settings, target, backup_id=other.id)
    unverified = verified_backup(settings, target, verified=False)
    with pytest.raises(SafetyRefusal, match="not verified"):
        run_deploy(settings, target, backup_id=unverified.id)
    with pytest.raises(SafetyRefusal, match="not found"):
        run_deploy(settings, target, backup_id="20200101T000000Z-000000")
    stale = verified_backup(settings, target, age_s=7 * 3600)
    with pytest.raises(SafetyRefusal, match=r"older than backup\.max_age"):
        run_deploy(settings, target, backup_id=stale.id)
    with pytest.raises(ConfigError, match="--reason"):
        run_deploy(settings, target, no_backup_reason="  ")
    assert db.scalar("select to_regclass('users')") is None
    assert db.scalar("select to_regclass('pgwarden_history')") is None
    assert {line["outcome"] for line in audit_lines(settings)} == {"refused", "error"}
    # Without --backup-id the newest verified backup of this database is used.
    fresh = verified_backup(settings, target)
    result = run_deploy(settings, target)
    assert result.ok and result.details["backup_id"] == fresh.id


def test_forbidden_command_in_production_is_refused_and_nothing_runs(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    (tmp_path / "pgwarden.yml").write_text((tmp_path / "pgwarden.yml").read_text()
                                           + "  hooks:\n    pre: touch pre-ran || php artisan migrate:fresh --force\n")
    settings = load_settings(tmp_path / "pgwarden.yml")
    target = DatabaseTarget.from_url(db.url)
    with pytest.raises(SafetyRefusal) as refused:
        run_deploy(settings, target, no_backup_reason="test", environment="Production")
    message = str(refused.value)
    assert "deploy.hooks.pre runs `migrate:fresh`" in message and "all data is lost" in message
    assert refused.value.exit_code == 4
    assert not (tmp_path / "pre-ran").exists()
    assert db.scalar("select to_regclass('users')") is None
    # Outside a protected environment the same config only warns.
    result = run_deploy(settings, target, no_backup_reason="test", environment="staging")
    assert result.ok and (tmp_path / "pre-ran").exists()
    assert any(c.name == "no destructive command configured" and c.warning and not c.ok for c in result.checks)


def test_two_deploys_at_once_one_refuses(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT, "0002_slow": "select pg_sleep(1.5);\n"})
    target = DatabaseTarget.from_url(db.url)
    results: dict[str, object] = {}

    def deploy(name: str) -> None:
        try:
            results[name] = run_deploy(settings, target, no_backup_reason="test", run_id=name)
        except SafetyRefusal as exc:
            results[name] = exc

    threads = [threading.Thread(target=deploy, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    refusals = [r for r in results.values() if isinstance(r, SafetyRefusal)]
    successes = [r for r in results.values() if not isinstance(r, SafetyRefusal)]
    assert len(refusals) == 1 and len(successes) == 1, results
    assert "another pgwarden deploy is running" in str(refusals[0])
    assert "held by pid" in str(refusals[0])
    assert db.scalar("select count(*) from pgwarden_migrations where finished_at is not null") == 2
    # The lock is released at the end: a third deploy gets it at once.
    assert run_deploy(settings, target, no_backup_reason="test").ok


def test_secrets_never_reach_the_result_audit_log_or_history(
    secret_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT, "0002_broken": BROKEN})
    (tmp_path / "pgwarden.yml").write_text((tmp_path / "pgwarden.yml").read_text()
                                           + "  hooks:\n    on_failure: echo \"url is $TEST_URL\"\n")
    settings = load_settings(tmp_path / "pgwarden.yml")
    target = DatabaseTarget.from_url(secret_db.url)
    password = target.password
    assert password
    monkeypatch.setenv("TEST_URL", secret_db.url)
    result = run_deploy(settings, target, no_backup_reason=f"testing {password}")
    assert not result.ok
    assert password not in json.dumps(result.to_json(), default=str)
    assert password not in (tmp_path / "audit.jsonl").read_text()
    assert "********" in (tmp_path / "audit.jsonl").read_text()
    rows = secret_db.execute("select * from pgwarden_history")
    assert rows and password not in repr(rows)
