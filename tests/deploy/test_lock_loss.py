"""Losing the deploy lock mid-deploy, for real: ``pg_terminate_backend`` of the lock session.

Before, a second deploy then got the lock and ran the migration the first was still running (both
exit 0, the insert twice). Now the first deploy stops before it starts anything more (no hook
either), and the second waits until the first's migration session is gone: every migration runs
exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pgwarden.config import load_settings
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.deploy_lock import DEPLOY_LOCK_APPLICATION_NAME
from pgwarden.pipeline.deploy import run_deploy
from tests.deploy.helpers import SETUP_TIMEOUT_S, write_project

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
PATIENT_DEPLOY = """\
deploy:
  lock_timeout: 2s
  statement_timeout: 60s
  retries: 0
  max_blocking: 30s
  lock_wait: 30s
  audit_log: audit.jsonl
  hooks:
    on_failure: echo "on_failure $PGWARDEN_RUN_ID" >> hooks.log
"""


def start_deploy(db, cwd: Path, run_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": db.url}
    return subprocess.Popen([PYTHON, "-m", "pgwarden", "deploy", "--no-backup", "--reason", "test",
                             "--run-id", run_id], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_sleeping_migration(db, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if db.scalar("select count(*) from pg_stat_activity where application_name like 'pgwarden-migrate%' "
                     "and query like '%pg_sleep%' and state = 'active'"):
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    raise AssertionError("the migration never reached its pg_sleep")


def terminate_lock_session(db) -> None:
    killed = db.execute("select pg_terminate_backend(pid, 5000) from pg_stat_activity where application_name = %s",
                        (DEPLOY_LOCK_APPLICATION_NAME,))
    assert killed == [(True,)], killed


def test_sql_tool_deploy_that_lost_its_lock_stops_and_a_second_deploy_runs_each_migration_once(
        db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": "create table t (id int);\ncreate table gate (x int);\n"
                                                     "insert into gate values (1);\n"}, deploy=PATIENT_DEPLOY)
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    # 0002_a waits (in pg_sleep) until the test empties gate: the lock is lost while it runs, however slow the machine.
    (tmp_path / "migrations/0002_a.sql").write_text(
        "insert into t values (2);\n"
        "do $$ begin while exists (select 1 from gate) loop perform pg_sleep(0.05); end loop; end $$;\n")
    (tmp_path / "migrations/0003_b.sql").write_text("insert into t values (3);\n")
    first = start_deploy(db, tmp_path, "first")
    wait_for_sleeping_migration(db, first)
    terminate_lock_session(db)
    db.execute("delete from gate")  # 0002_a ends now; the first deploy must stop before 0003_b

    second = run_deploy(settings, target, no_backup_reason="test", run_id="second")
    out, _ = first.communicate(timeout=60)

    assert first.returncode == 1 and "Traceback" not in out, out
    assert "the deploy lock was lost" in out and "stopped before 0003_b" in out
    assert second.ok, second.summary
    assert second.details["applied"] == ["0003_b"]
    assert [r[0] for r in db.execute("select id from t order by id")] == [2, 3]
    assert db.scalar("select count(*) from pgwarden_migrations where finished_at is not null") == 3
    # The deploy that lost its lock ran no hook: another deploy may have been running its own.
    assert not (tmp_path / "hooks.log").exists()


def test_external_tool_is_stopped_when_the_lock_is_lost_and_nothing_runs_twice(db, tmp_path: Path) -> None:
    project = tmp_path / "app"
    shutil.copytree(HERE / "alembic_project", project, ignore=shutil.ignore_patterns("__pycache__"))
    versions = project / "migrations/versions"
    revision = ('"""{name}"""\nfrom alembic import op\n\nrevision = "{rev}"\ndown_revision = "{down}"\n'
                "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n{body}\n\n"
                "def downgrade() -> None:\n    pass\n")
    (versions / "c3_slow.py").write_text(revision.format(
        name="slow", rev="c3", down="b2",
        body='    op.execute("create table marks (id int)")\n    op.execute("insert into marks values (3)")\n'
             '    op.execute("select pg_sleep(60) from gate")\n'))
    (versions / "d4_next.py").write_text(revision.format(
        name="next", rev="d4", down="c3", body='    op.execute("insert into marks values (4)")\n'))
    (project / "pgwarden.yml").write_text(
        f"migrations:\n  tool: alembic\n  path: alembic.ini\n"
        f"  command: {PYTHON} -m alembic -c alembic.ini upgrade head\nbackup:\n  store: file://backups\n"
        + PATIENT_DEPLOY)
    db.execute("create table gate (x int); insert into gate values (1)")
    settings = load_settings(project / "pgwarden.yml")
    target = DatabaseTarget.from_url(db.url)

    first = start_deploy(db, project, "first")
    wait_for_sleeping_migration(db, first)
    terminate_lock_session(db)
    db.execute("delete from gate")  # the second deploy's c3 does not sleep
    # Were the first tool not stopped, this would wait out lock_wait (30s, under c3's 60s sleep) and refuse.
    second = run_deploy(settings, target, no_backup_reason="test", run_id="second")
    out, _ = first.communicate(timeout=60)

    assert first.returncode == 1 and "Traceback" not in out, out
    assert "the deploy lock was lost" in out
    assert second.ok, second.summary + second.details.get("output", "")
    assert db.scalar("select version_num from alembic_version") == "d4"
    assert [r[0] for r in db.execute("select id from marks order by id")] == [3, 4]
    assert not (project / "hooks.log").exists()


def test_lock_lost_before_the_first_migration_nothing_runs(db, tmp_path: Path, monkeypatch) -> None:
    # The pre hook (maintenance mode, say) runs while the lock session is terminated under it.
    kill_lock = (f"{PYTHON} -c \"import os, psycopg; psycopg.connect(os.environ['TEST_URL'], autocommit=True)"
                 f".execute(\\\"select pg_terminate_backend(pid, 5000) from pg_stat_activity "
                 f"where application_name = '{DEPLOY_LOCK_APPLICATION_NAME}'\\\")\"")
    settings = write_project(tmp_path, {"0001_init": "create table t (id int);\n"},
                             deploy=PATIENT_DEPLOY + f"    pre: {kill_lock}\n")
    monkeypatch.setenv("TEST_URL", db.url)
    result = run_deploy(settings, DatabaseTarget.from_url(db.url), no_backup_reason="test")
    assert [h["stage"] for h in result.details["hooks"]] == ["pre"], result.details["hooks"]
    assert not result.ok and result.details["lock_lost"], result.summary
    assert "the deploy lock was lost" in result.summary and "before attempt 1" in result.summary
    assert result.details["applied"] == []
    assert db.scalar("select to_regclass('t')") is None
    assert not (tmp_path / "hooks.log").exists()
