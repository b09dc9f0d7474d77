"""Unfinished migrations, injected for real: the migration session terminated, pgwarden SIGKILLed.

A migration that started and did not finish may be partly applied when it is not atomic: it is
recorded (``pgwarden_unfinished``), shown by ``status`` and ``verify``, and ``deploy`` refuses
(exit 4) until ``pgwarden resolve``. An atomic one rolled back: failed (session terminated) or
pending again (pgwarden killed), never run twice, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pgwarden.config import load_settings
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.unfinished import mark_unknown, write_started
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.tools import get_tool
from tests.deploy.helpers import SETUP_TIMEOUT_S, add_migration, audit_lines, write_project

INIT = "create table t (id int);\ncreate table gate (x int);\ninsert into gate values (1);\n"
#: Not atomic: the first insert is committed before the sleep (the sleep lasts while gate has a row).
HALF = ("-- pgwarden:no-transaction\ninsert into t values (1);\nselect pg_sleep(30) from gate;\n"
        "insert into t values (2);\n")
#: Atomic: one transaction.
TX = "insert into t values (1);\nselect pg_sleep(30) from gate;\ninsert into t values (2);\n"


def setup(db, tmp_path: Path, name: str, sql: str):
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    add_migration(settings, name, sql)
    return settings, target


def start_deploy(db, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": db.url}
    return subprocess.Popen([sys.executable, "-m", "pgwarden", "deploy", "--no-backup", "--reason", "test"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def sleeping_migration(db, proc: subprocess.Popen[str]) -> int:
    """The pid of the migration session once it sits in pg_sleep."""
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while time.monotonic() < deadline:
        pid = db.scalar("select pid from pg_stat_activity where application_name like 'pgwarden-migrate%' "
                        "and query like '%pg_sleep%' and state = 'active'")
        if pid:
            return int(pid)
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    raise AssertionError("the migration never reached its pg_sleep")


def terminate(db, pid: int) -> None:
    db.execute("select pg_terminate_backend(%s, 5000)", (pid,))


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def sigkill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def ids(db) -> list[int]:
    return [row[0] for row in db.execute("select id from t order by id")]


def test_terminated_no_transaction_migration_is_unknown_shown_refused_and_resolved(db, tmp_path: Path, cli) -> None:
    settings, _ = setup(db, tmp_path, "0002_half", HALF)
    proc = start_deploy(db, tmp_path)
    terminate(db, sleeping_migration(db, proc))
    code, out = finish(proc)
    assert code == 1 and "Traceback" not in out, out
    assert "0002_half did not finish and may be partly applied" in out
    assert "pgwarden resolve 0002_half --applied|--rolled-back" in out
    assert ids(db) == [1]
    env = {"DATABASE_URL": db.url}

    status = cli("status", cwd=tmp_path, env=env)
    assert status.code == 1, status.output
    assert "0 failed, 1 unknown" in status.stdout
    assert "UNKNOWN  0002_half" in status.stdout and "pgwarden resolve 0002_half" in status.stdout
    as_json = json.loads(cli("status", "--format", "json", cwd=tmp_path, env=env).stdout)
    assert as_json["migrations"]["unknown"] == ["0002_half"] and as_json["migrations"]["pending"] == []

    verify = cli("verify", cwd=tmp_path, env=env)
    assert verify.code == 1 and "no unfinished migration" in verify.output, verify.output

    again = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert again.code == 4 and "Traceback" not in again.output, again.output
    assert "0002_half started and did not finish" in again.stderr
    assert "pgwarden resolve 0002_half --applied|--rolled-back" in again.stderr
    assert ids(db) == [1], "the half-applied file ran again"

    # The responder finishes it by hand and records that.
    db.execute("insert into t values (2)")
    resolved = cli("resolve", "0002_half", "--applied", "--reason", "inserted 2 by hand", cwd=tmp_path, env=env)
    assert resolved.code == 0, resolved.output
    assert "0002_half resolved as applied" in resolved.stdout
    line = [x for x in audit_lines(settings) if x["action"] == "resolve"][-1]
    assert line["outcome"] == "applied" and line["migration"] == "0002_half" and line["reason"] == "inserted 2 by hand"
    status = cli("status", cwd=tmp_path, env=env)
    assert status.code == 0 and "0 unknown" in status.stdout and "resolved-applied 0002_half" in status.stdout
    final = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert final.code == 0 and "nothing to deploy" in final.output, final.output
    assert ids(db) == [1, 2]


def backend_gone(db, pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not db.scalar("select count(*) from pg_stat_activity where pid = %s", (pid,)):
            return True
        time.sleep(0.05)
    return False


def test_sigkilled_pgwarden_leaves_a_trace_and_the_next_deploy_refuses(db, tmp_path: Path, cli) -> None:
    setup(db, tmp_path, "0002_half", HALF)
    proc = start_deploy(db, tmp_path)
    backend = sleeping_migration(db, proc)
    sigkill(proc)
    # client_connection_check_interval: the server ends the orphaned statement by itself (not after 30s).
    assert backend_gone(db, backend), "the migration session outlived pgwarden"
    env = {"DATABASE_URL": db.url}
    status = cli("status", cwd=tmp_path, env=env)
    assert "1 unknown" in status.stdout and "UNKNOWN  0002_half" in status.stdout, status.output
    refused = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert refused.code == 4 and "0002_half started and did not finish" in refused.stderr, refused.output
    assert "Traceback" not in refused.output
    assert ids(db) == [1]
    # Undone by hand: the next deploy runs it again, in full.
    db.execute("delete from t; delete from gate")
    assert cli("resolve", "0002_half", "--rolled-back", cwd=tmp_path, env=env).code == 0
    final = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert final.code == 0, final.output
    assert ids(db) == [1, 2]


def test_a_deploy_waits_for_a_migration_session_still_running_then_refuses(db, tmp_path: Path, cli) -> None:
    # What a deploy that lost its lock (or died) leaves behind: a migration session still at work.
    setup(db, tmp_path, "0002_next", "insert into t values (1);\n")
    with psycopg.connect(db.url, autocommit=True, application_name="pgwarden-migrate") as orphan:
        pid = orphan.info.backend_pid
        busy = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert busy.code == 4 and "a migration session of an earlier deploy is still running" in busy.stderr, busy.output
    assert f"pid {pid}" in busy.stderr and "Traceback" not in busy.output
    assert ids(db) == []


def test_terminated_transactional_migration_is_failed_not_pending(db, tmp_path: Path, cli) -> None:
    setup(db, tmp_path, "0002_tx", TX)
    proc = start_deploy(db, tmp_path)
    terminate(db, sleeping_migration(db, proc))
    code, out = finish(proc)
    assert code == 1 and "Traceback" not in out, out
    assert ids(db) == []
    error = db.scalar("select error from pgwarden_migrations where name = '0002_tx' and finished_at is null")
    assert error and "terminat" in error, error
    env = {"DATABASE_URL": db.url}
    status = cli("status", cwd=tmp_path, env=env)
    assert status.code == 1 and "1 failed, 0 unknown" in status.stdout, status.output
    refused = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert refused.code == 4 and "pgwarden resolve 0002_tx --rolled-back" in refused.stderr, refused.output
    db.execute("delete from gate")
    assert cli("resolve", "0002_tx", "--rolled-back", cwd=tmp_path, env=env).code == 0
    final = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert final.code == 0, final.output
    assert ids(db) == [1, 2]


def test_sigkilled_during_a_transactional_migration_it_rolls_back_and_runs_once(db, tmp_path: Path, cli) -> None:
    setup(db, tmp_path, "0002_tx", TX)
    proc = start_deploy(db, tmp_path)
    backend = sleeping_migration(db, proc)
    sigkill(proc)
    terminate(db, backend)
    env = {"DATABASE_URL": db.url}
    status = cli("status", "--format", "json", cwd=tmp_path, env=env)
    migrations = json.loads(status.stdout)["migrations"]
    assert migrations["pending"] == ["0002_tx"] and migrations["unknown"] == [], status.output
    db.execute("delete from gate")
    final = cli("deploy", "--no-backup", "--reason", "test", cwd=tmp_path, env=env)
    assert final.code == 0 and "applied 1 migration(s)" in final.output, final.output
    assert ids(db) == [1, 2]
    assert db.scalar("select count(*) from pgwarden_unfinished") == 0


def test_no_transaction_file_failing_half_way_is_unknown(db, tmp_path: Path) -> None:
    settings, target = setup(db, tmp_path, "0002_half",
                             "-- pgwarden:no-transaction\ninsert into t values (1);\ninsert into nope values (2);\n")
    result = run_deploy(settings, target, no_backup_reason="test")
    assert not result.ok and result.details["unfinished"] == ["0002_half"]
    assert "pgwarden resolve 0002_half" in result.summary
    assert [a["outcome"] for a in result.details["attempts"]] == ["unfinished"]
    assert ids(db) == [1]


def test_no_transaction_file_failing_at_its_first_statement_is_failed_not_unknown(db, tmp_path: Path, cli) -> None:
    settings, target = setup(db, tmp_path, "0002_first",
                             "-- pgwarden:no-transaction\ninsert into nope values (1);\ninsert into t values (2);\n")
    result = run_deploy(settings, target, no_backup_reason="test")
    assert not result.ok and result.details["unfinished"] == []
    status = cli("status", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert "1 failed, 0 unknown" in status.stdout, status.output


def test_resolve_refuses_what_is_not_unfinished(db, tmp_path: Path, cli) -> None:
    setup(db, tmp_path, "0002_next", "insert into t values (1);\n")
    env = {"DATABASE_URL": db.url}
    applied = cli("resolve", "0001_init", "--applied", cwd=tmp_path, env=env)
    assert applied.code == 2 and "0001_init: nothing to resolve (it is applied)" in applied.stderr, applied.output
    unknown = cli("resolve", "0009_nope", "--rolled-back", cwd=tmp_path, env=env)
    assert unknown.code == 2 and "not a migration of this project" in unknown.stderr, unknown.output
    usage = cli("resolve", "0002_next", cwd=tmp_path, env=env)
    assert usage.code == 2 and "--applied" in usage.stderr
    assert "Traceback" not in applied.output + unknown.output + usage.output


def test_an_external_tools_unfinished_migration_is_resolved_only_as_its_history_allows(
        db, tmp_path: Path, cli) -> None:
    project = tmp_path / "app"
    shutil.copytree(Path(__file__).parent / "alembic_project", project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pgwarden.yml").write_text(
        f"migrations:\n  tool: alembic\n  path: alembic.ini\n  command: {sys.executable} -m alembic -c alembic.ini "
        "upgrade head\nbackup:\n  store: file://backups\ndeploy:\n  audit_log: audit.jsonl\n")
    tool = get_tool(load_settings(project / "pgwarden.yml"))
    with psycopg.connect(db.url, autocommit=True) as conn:
        first = tool.migrations(conn)[0]
        # As a deploy leaves a non-atomic migration that failed half-way.
        write_started(conn, tool.name, "earlier-run", [dataclasses.replace(first, atomic=False)])
        mark_unknown(conn, tool.name, first.name, "it failed half-way and is not atomic")
    env = {"DATABASE_URL": db.url}
    refused = cli("deploy", "--no-backup", "--reason", "test", cwd=project, env=env)
    assert refused.code == 4 and f"{first.name} started and did not finish" in refused.stderr, refused.output
    # Alembic does not record it as applied: marking it applied in pgwarden alone would re-run it.
    applied = cli("resolve", first.name, "--applied", cwd=project, env=env)
    assert applied.code == 4 and "alembic stamp" in applied.stderr, applied.output
    rolled_back = cli("resolve", first.name, "--rolled-back", cwd=project, env=env)
    assert rolled_back.code == 0, rolled_back.output
    assert "the next deploy runs it again" in rolled_back.stdout
    assert db.scalar("select count(*) from pgwarden_unfinished") == 0


def test_the_migration_tool_dies_with_a_sigkilled_pgwarden(db, tmp_path: Path) -> None:
    """A tool left running after pgwarden died would go on migrating with nobody watching its limits."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    project = tmp_path / "app"
    shutil.copytree(Path(__file__).parent / "alembic_project", project, ignore=shutil.ignore_patterns("__pycache__"))
    pid_file = tmp_path / "tool.pid"
    tool = tmp_path / "slow_tool.py"
    tool.write_text(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    (project / "pgwarden.yml").write_text(
        f"migrations:\n  tool: alembic\n  path: alembic.ini\n  command: {sys.executable} {tool}\n"
        "backup:\n  store: file://backups\ndeploy:\n  audit_log: audit.jsonl\n")
    env = {**os.environ, "DATABASE_URL": db.url}
    proc = subprocess.Popen([sys.executable, "-m", "pgwarden", "deploy", "--no-backup", "--reason", "test"],
                            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while not (pid_file.exists() and pid_file.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "the tool never started"
        time.sleep(0.05)
    tool_pid = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while _alive(tool_pid):
        assert time.monotonic() < deadline, "the migration tool outlived the SIGKILLed pgwarden"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"
