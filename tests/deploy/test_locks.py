"""The lock behaviour that keeps the site up: lock_timeout + retries, the watchdog, pre-flight.

Each test runs an 'application' thread querying the migrated table and measures how long its
queries were stuck: the point is not only that the deploy fails cleanly, but that the other
sessions were never blocked behind the migration for longer than the configured limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from pgwarden.names import QualifiedName
from pgwarden.pg.blockers import find_blocking_sessions
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.deploy_lock import DeployLock
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.risk.touched import tables_touched
from tests.deploy.helpers import SETUP_TIMEOUT_S, AppLoad, add_migration, audit_lines, open_transaction, write_project

INIT = "create table users (id bigserial primary key, email text);\ninsert into users (email) values ('a'), ('b');\n"
ADD_COLUMN = "alter table users add column nickname text;\n"


def deploy_config(*, lock_timeout: str = "300ms", max_blocking: str = "1s", retries: int = 2,
                  backoff: str = "100ms", preflight_wait: str = "0s") -> str:
    return (f"deploy:\n  lock_timeout: {lock_timeout}\n  statement_timeout: 30s\n  retries: {retries}\n"
            f"  retry_backoff: {backoff}\n  max_blocking: {max_blocking}\n  lock_wait: 500ms\n"
            f"  preflight_wait: {preflight_wait}\n  audit_log: audit.jsonl\n")


def project(db, tmp_path: Path, **config: object):
    settings = write_project(tmp_path, {"0001_init": INIT}, deploy=deploy_config(**config))  # type: ignore[arg-type]
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    return settings, target


def test_lock_timeout_retries_then_fails_cleanly_without_stalling_others(db, tmp_path: Path) -> None:
    settings, target = project(db, tmp_path, lock_timeout="300ms", max_blocking="1s", retries=2)
    add_migration(settings, "0002_add_nickname", ADD_COLUMN)
    with open_transaction(db.url, "select * from users") as blocker, \
            AppLoad(db.url, "select count(*) from users") as app:
        blocker_pid = blocker.info.backend_pid
        result = run_deploy(settings, target, no_backup_reason="test")
    assert not result.ok
    attempts = result.details["attempts"]
    assert [a["outcome"] for a in attempts] == ["lock-timeout"] * 3
    assert "gave up after 3 attempt(s)" in result.details["error"]
    assert "lock timeout" in result.details["error"]
    # Pre-flight saw the idle-in-transaction session holding a lock on the migrated table.
    assert [b["pid"] for b in result.details["preflight_blockers"]] == [blocker_pid]
    assert result.details["preflight_blockers"][0]["relations"] == ["public.users"]
    # Nobody was stuck behind the migration longer than the limits (lock_timeout 300ms here).
    assert app.latencies and not app.errors
    assert app.worst < 0.8, f"an application query waited {app.worst:.2f}s"
    assert result.details["max_wait_s"] < 0.8
    assert any(a["watchdog"]["migration_blockers"] for a in attempts)
    # Nothing was applied, so nothing is marked failed: the next deploy simply tries again.
    assert db.scalar("select count(*) from pgwarden_migrations where name = '0002_add_nickname'") == 0
    retry = run_deploy(settings, target, no_backup_reason="test")
    assert retry.ok and retry.details["applied"] == ["0002_add_nickname"]


def test_retry_starts_as_soon_as_the_blocking_transaction_ends(db, tmp_path: Path) -> None:
    # lock_timeout 1s: long enough for the watchdog to see whom the first attempt waits for.
    settings, target = project(db, tmp_path, lock_timeout="1s", retries=3, backoff="5s")
    add_migration(settings, "0002_add_nickname", ADD_COLUMN)
    blocker = psycopg.connect(db.url, autocommit=False)
    blocker.execute("select * from users")
    lines: list[str] = []
    blocker_ended: list[float] = []

    def progress(line: str) -> None:
        lines.append(line)
        # The first attempt timed out on its lock: end the blocking transaction during the backoff.
        if "retrying in at most" in line and not blocker_ended:
            blocker.close()
            blocker_ended.append(time.monotonic())

    try:
        result = run_deploy(settings, target, no_backup_reason="test", progress=progress)
        finished = time.monotonic()
    finally:
        blocker.close()
    assert result.ok, result.summary
    assert [a["outcome"] for a in result.details["attempts"]] == ["lock-timeout", "succeeded"]
    assert "the blocking transactions ended; retrying now" in lines
    elapsed = finished - blocker_ended[0]
    assert elapsed < 4, f"waited the whole 5s backoff ({elapsed:.1f}s)"


def test_watchdog_cancels_a_migration_that_holds_others_up(db, tmp_path: Path) -> None:
    # The migration gets its lock at once (lock_timeout cannot help) and then sits on it.
    settings, target = project(db, tmp_path, max_blocking="500ms", retries=0)
    add_migration(settings, "0002_slow", "lock table users in access exclusive mode;\nselect pg_sleep(10);\n")
    events: list[str] = []
    with AppLoad(db.url, "select count(*) from users") as app:
        started = time.monotonic()
        result = run_deploy(settings, target, no_backup_reason="test", progress=events.append)
        elapsed = time.monotonic() - started
    assert not result.ok
    assert result.details["attempts"][0]["outcome"] == "cancelled-by-watchdog"
    assert "cancelled by the lock watchdog" in result.details["error"]
    assert "over deploy.max_blocking 0.5s" in result.details["error"]
    assert any("lock watchdog cancelled" in e for e in events)
    assert elapsed < 5
    assert 0.5 <= result.details["max_wait_s"] < 1.2
    assert app.worst < 1.2, f"an application query waited {app.worst:.2f}s"
    assert db.scalar("select count(*) from pgwarden_migrations where name = '0002_slow'") == 0
    assert any(line["action"] == "migrate" and line["outcome"] == "cancelled-by-watchdog"
               for line in audit_lines(settings))


def test_watchdog_cancels_a_queued_migration_before_lock_timeout(db, tmp_path: Path) -> None:
    # A long lock_timeout alone would let the application queue behind the DDL for 10s.
    settings, target = project(db, tmp_path, lock_timeout="10s", max_blocking="500ms", retries=1)
    add_migration(settings, "0002_add_nickname", ADD_COLUMN)
    with open_transaction(db.url, "select * from users"), AppLoad(db.url, "select count(*) from users") as app:
        started = time.monotonic()
        result = run_deploy(settings, target, no_backup_reason="test")
        elapsed = time.monotonic() - started
    assert not result.ok
    assert [a["outcome"] for a in result.details["attempts"]] == ["cancelled-by-watchdog"] * 2
    assert elapsed < 4
    assert app.worst < 1.2, f"an application query waited {app.worst:.2f}s"


def test_preflight_waits_for_blockers_then_deploys(db, tmp_path: Path) -> None:
    settings, target = project(db, tmp_path, preflight_wait="5s")
    add_migration(settings, "0002_add_nickname", ADD_COLUMN)
    blocker = psycopg.connect(db.url, autocommit=False)
    blocker.execute("update users set email = email")
    lines: list[str] = []
    timers: list[threading.Timer] = []

    def progress(line: str) -> None:
        lines.append(line)
        # Pre-flight found the blocker and waits: let it finish a moment later, as an application would.
        if line.startswith("pre-flight: waiting up to"):
            timers.append(threading.Timer(0.3, blocker.close))
            timers[-1].start()

    try:
        result = run_deploy(settings, target, no_backup_reason="test", progress=progress)
    finally:
        for timer in timers:
            timer.cancel()
        blocker.close()
    assert result.ok
    assert "pre-flight: waiting up to 5.0s for them to finish" in lines
    assert [a["outcome"] for a in result.details["attempts"]] == ["succeeded"]
    assert result.details["preflight_blockers"] == []


def test_preflight_only_reports_sessions_on_the_migrated_tables(db) -> None:
    db.execute("create table a (id int); create table b (id int)")
    with open_transaction(db.url, "select * from b"), db.connect() as conn:
        assert find_blocking_sessions(conn, {QualifiedName(None, "a")}) == []
        found = find_blocking_sessions(conn, {QualifiedName(None, "b")})
        assert [s.relations for s in found] == [("public.b",)]
        assert "idle in transaction" in found[0].describe()
        assert find_blocking_sessions(conn, None)


def test_tables_touched() -> None:
    sql = "alter table public.orders add column x int; drop table old_things; create index i on users (a);"
    assert tables_touched(sql) == {QualifiedName("public", "orders"), QualifiedName(None, "old_things"),
                                   QualifiedName(None, "users")}
    assert tables_touched("this is not sql") is None


def test_deploy_lock_is_per_database(db, tmp_path: Path) -> None:
    target = DatabaseTarget.from_url(db.url)
    with DeployLock(target, wait_s=0):
        other = DeployLock(target.with_dbname("postgres"), wait_s=0)
        other.acquire()
        other.release()


def test_preflight_tells_schemas_apart(db) -> None:
    # A lock on audit.users is no reason to wait before migrating users (unqualified: public.users).
    db.execute("create schema audit; create table audit.users (id int); create table users (id int)")
    unqualified = tables_touched("alter table users add column nickname text;")
    qualified = tables_touched("alter table audit.users add column nickname text;")
    with db.connect() as conn:
        with open_transaction(db.url, "select * from audit.users"):
            assert find_blocking_sessions(conn, unqualified) == []
            assert [s.relations for s in find_blocking_sessions(conn, qualified)] == [("audit.users",)]
        with open_transaction(db.url, "select * from public.users"):
            assert [s.relations for s in find_blocking_sessions(conn, unqualified)] == [("public.users",)]
            assert find_blocking_sessions(conn, qualified) == []


def test_deploy_ignores_a_lock_on_a_table_of_the_same_name_in_another_schema(db, tmp_path: Path) -> None:
    settings, target = project(db, tmp_path)
    db.execute("create schema audit; create table audit.users (id int)")
    add_migration(settings, "0002_add_nickname", ADD_COLUMN)
    with open_transaction(db.url, "select * from audit.users"):
        result = run_deploy(settings, target, no_backup_reason="test")
    assert result.ok, result.summary
    assert result.details["preflight_blockers"] == []


def test_a_plan_in_progress_does_not_hold_up_a_deploy(db, tmp_path: Path) -> None:
    """The plan command's read-only sessions are not a migration: a deploy neither waits for them nor refuses."""
    laravel = tmp_path / "laravel"
    shutil.copytree(Path(__file__).parents[1] / "corpus/laravel", laravel)
    holder = laravel / "hold.py"
    release = tmp_path / "release"
    # The plan command holds its session until the test is done with the deploy, however long that takes.
    holder.write_text("import os, sys, time, psycopg\n"
                      "conn = psycopg.connect(os.environ['DATABASE_URL'])\n"
                      "conn.execute('select 1')\nprint('holding', flush=True, file=sys.stderr)\n"
                      f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\n")
    (laravel / "pgwarden.yml").write_text(
        f"migrations:\n  tool: laravel\n  plan_command: {sys.executable} hold.py\n")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("create table if not exists migrations (id serial primary key, migration text, batch int)")
    env = {**os.environ, "DATABASE_URL": db.url}
    log = tmp_path / "plan.log"
    with log.open("w") as out:
        plan = subprocess.Popen([sys.executable, "-m", "pgwarden", "plan"], cwd=laravel, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while not db.scalar("select count(*) from pg_stat_activity where application_name like 'pgwarden-%' "
                            "and backend_type = 'client backend' and pid <> pg_backend_pid()"
                            " and application_name not like 'pgwarden-deploy%'"):
            assert plan.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        settings = write_project(tmp_path / "sql", {"0001_a": "create table plan_race (id int);\n"})
        result = run_deploy(settings, DatabaseTarget.from_url(db.url), no_backup_reason="test")
        assert result.ok, result.error
        assert plan.poll() is None, "the plan command ended before the deploy did: the test proved nothing"
    finally:
        release.touch()
        plan.kill()
        plan.wait()
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("drop table if exists plan_race, migrations")
