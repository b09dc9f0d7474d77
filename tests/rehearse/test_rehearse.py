"""``pgwarden rehearse`` end to end against real PostgreSQL: a database of 300,000 rows, a real backup in
a file:// store, pending sql migrations that backfill under the ALTER's lock, rewrite the table, and
build a unique index over duplicates (which fails); the target unchanged and the scratch copy gone."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg import connect as psycopg_connect

from pgwarden.audit import read_audit_log
from pgwarden.rehearsal import RehearsalReport
from tests.fix_pg import PgServer, TestDatabase, _fresh_database
from tests.fix_project import cli_backup, write_sql_project

ROWS = 300_000

SCHEMA = f"""
create table orders (id bigint primary key, ref int not null, customer_id int not null, amount int not null);
insert into orders select g, g, g % 1000, g % 97 from generate_series(1, {ROWS}) g;
create table customers (id int primary key, name text);
insert into customers select g, 'c' || g from generate_series(1, 1000) g;
analyze;
"""

MIGRATIONS = {
    # (a) the backfill runs inside the ALTER's transaction: ACCESS EXCLUSIVE on orders throughout
    "0002_backfill": "ALTER TABLE orders ADD COLUMN amount_cents bigint;\n"
                     "UPDATE orders SET amount_cents = amount * 100;\n",
    # (b) int -> bigint rewrites the table
    "0003_widen_ref": "ALTER TABLE orders ALTER COLUMN ref TYPE bigint;\n",
    # (c) customer_id repeats: 23505
    "0004_unique_customer": "CREATE UNIQUE INDEX orders_customer_key ON orders (customer_id);\n",
    "0005_later": "CREATE TABLE later (id int);\n",
}


def scratch_databases(server: PgServer) -> list[str]:
    with server.admin() as conn:
        return [r[0] for r in conn.execute(
            "select datname from pg_database where datname like 'pgwarden\\_rehearse\\_%'").fetchall()]


def fingerprint_tables(db: TestDatabase) -> tuple[Any, ...]:
    """Every table's columns and every index, and a checksum of each table's rows."""
    tables = [r[0] for r in db.execute(
        "select format('%I.%I', schemaname, tablename) from pg_tables "
        "where schemaname not in ('pg_catalog', 'information_schema') order by 1")]
    sums = tuple(db.scalar(f"select md5(coalesce(string_agg(x::text, ',' order by x::text), '')) from {t} x")
                 for t in tables)
    columns = db.execute("select table_schema, table_name, column_name, data_type from information_schema.columns "
                         "where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3")
    indexes = db.execute("select indexname from pg_indexes where schemaname = 'public' order by 1")
    return tuple(tables), sums, tuple(columns), tuple(indexes)


def fingerprint(db: TestDatabase) -> tuple[Any, ...]:
    """The target's data and schema: a checksum of every row and the list of its tables and columns."""
    rows = db.scalar("select md5(string_agg(o::text, ',' order by id)) from orders o")
    customers = db.scalar("select md5(string_agg(c::text, ',' order by id)) from customers c")
    columns = db.execute("select table_schema, table_name, column_name, data_type from information_schema.columns "
                         "where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3")
    indexes = db.execute("select indexname from pg_indexes where schemaname = 'public' order by 1")
    return rows, customers, tuple(columns), tuple(indexes)


@dataclass
class Rehearsed:
    db: TestDatabase
    project: Path
    backup_id: str
    before: tuple[Any, ...]
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]


@pytest.fixture(scope="module")
def rehearsed(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsed]:
    """One rehearsal of the four migrations (one restore of 300,000 rows), read by the tests below."""
    from tests.fix_cli import _run_in_process

    def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
        return _run_in_process(list(args), cwd=cwd, env=env)

    project = tmp_path_factory.mktemp("rehearse")
    with _fresh_database(pg_server) as db:
        db.execute(SCHEMA)
        write_sql_project(project, MIGRATIONS)
        manifest = cli_backup(cli, project, db.url)
        before = fingerprint(db)
        done = cli("rehearse", "--format", "json", cwd=project, env={"DATABASE_URL": db.url})
        yield Rehearsed(db, project, manifest["id"], before, done.code, done.stdout, done.stderr,
                        json.loads(done.stdout))


def _migration(rehearsed: Rehearsed, name: str) -> dict[str, Any]:
    return next(m for m in rehearsed.report["migrations"] if m["name"] == name)


def test_the_report_has_the_issue_shape_and_reads_back(rehearsed: Rehearsed) -> None:
    assert rehearsed.code == 1, rehearsed.stderr
    report = rehearsed.report
    assert list(report)[:5] == ["version", "backup_id", "scratch_database", "dropped", "migrations"]
    assert report["version"] == 1 and report["backup_id"] == rehearsed.backup_id and report["dropped"] is True
    assert report["scratch_database"].startswith("pgwarden_rehearse_")
    assert report["database"] == rehearsed.db.name and report["tool"] == "sql"
    assert [m["name"] for m in report["migrations"]] == list(MIGRATIONS)
    assert [m["status"] for m in report["migrations"]] == ["applied", "applied", "failed", "not-run"]
    assert RehearsalReport.from_json(report).to_json() == report
    assert report["restore_s"] > 0 and report["migrate_s"] > 0


def test_the_lock_held_through_the_backfill_is_measured(rehearsed: Rehearsed) -> None:
    backfill = _migration(rehearsed, "0002_backfill")
    lock = next(lk for lk in backfill["locks"] if lk["table"] == "public.orders")
    assert lock["mode"] == "AccessExclusiveLock"
    # The ALTER takes the lock first and the UPDATE of every row runs under it: held about as long as
    # the migration ran (within a few sample intervals and the sample query's time).
    assert backfill["duration_s"] > 0.2
    assert lock["held_s"] >= 0.8 * backfill["duration_s"], backfill
    assert lock["held_s"] <= backfill["duration_s"] + 0.25, backfill
    assert backfill["error"] is None and backfill["sqlstate"] is None


def test_the_type_change_reports_the_rewrite(rehearsed: Rehearsed) -> None:
    widen = _migration(rehearsed, "0003_widen_ref")
    assert widen["rewritten"] == ["public.orders"]
    assert widen["locks"][0]["table"] == "public.orders" and widen["locks"][0]["mode"] == "AccessExclusiveLock"
    # The backfill's ADD COLUMN without a default changes no storage (its UPDATE writes new row
    # versions in the same file): no rewrite is reported there.
    assert _migration(rehearsed, "0002_backfill")["rewritten"] == []


def test_the_unique_index_fails_with_23505_and_later_ones_do_not_run(rehearsed: Rehearsed) -> None:
    failed = _migration(rehearsed, "0004_unique_customer")
    assert failed["sqlstate"] == "23505"
    assert failed["error"].startswith("could not create unique index"), failed["error"]
    # The DETAIL line carries production values: it never reaches the report.
    assert "DETAIL" not in failed["error"] and "Key (" not in failed["error"]
    assert re.search(r"=\(\d+\)", rehearsed.stderr) is None, rehearsed.stderr  # nor the progress lines (CI logs)
    later = _migration(rehearsed, "0005_later")
    assert later["duration_s"] is None and later["locks"] == [] and later["error"] is None


def test_the_target_is_unchanged_and_the_scratch_copy_is_gone(rehearsed: Rehearsed) -> None:
    assert fingerprint(rehearsed.db) == rehearsed.before
    assert rehearsed.db.scalar("select to_regclass('later')") is None
    assert scratch_databases(rehearsed.db.server) == []


def test_the_servers_free_space_is_checked_first(rehearsed: Rehearsed) -> None:
    # The embedded server is on this machine and the role is a superuser: its free space is known.
    assert "rehearse: the copy needs about" in rehearsed.stderr and " free in " in rehearsed.stderr
    assert rehearsed.stderr.index(" free in ") < rehearsed.stderr.index("rehearse: restoring backup")


def test_the_audit_log_names_the_scratch_copy_and_its_lifetime(rehearsed: Rehearsed) -> None:
    lines = read_audit_log(rehearsed.project / ".pgwarden" / "audit.jsonl")
    actions = [line["action"] for line in lines]
    for action in ("rehearse.start", "rehearse.restore", "rehearse.migrate", "rehearse.drop"):
        assert action in actions, actions
    assert "deploy" not in actions and "migrate" not in actions  # the deploy path's lines are rehearse.*
    drop = next(line for line in lines if line["action"] == "rehearse.drop")
    assert drop["scratch_database"] == rehearsed.report["scratch_database"] and drop["lifetime_s"] > 0
    assert drop["database"] == rehearsed.db.name and drop["outcome"] == "succeeded"
    # The failure's DETAIL (Key (customer_id)=(582) is duplicated) stays out: the log is uploaded.
    text = (rehearsed.project / ".pgwarden" / "audit.jsonl").read_text()
    assert "could not create unique index" in text and re.search(r"=\(\d+\)", text) is None


# --- refusals: nothing restored ---------------------------------------------------------------


@pytest.fixture
def small(db: TestDatabase, tmp_path: Path) -> TestDatabase:
    db.execute("create table t (id int primary key); insert into t select generate_series(1, 10)")
    write_sql_project(tmp_path, {"0001_add": "ALTER TABLE t ADD COLUMN x int;\n"})
    return db


def test_no_verified_backup_is_a_refusal(small: TestDatabase, tmp_path: Path, cli: Callable[..., Any]) -> None:
    done = cli("rehearse", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 4, done.output
    assert "no verified backup" in json.loads(done.stdout)["error"]["message"]
    assert scratch_databases(small.server) == []


def test_a_backup_older_than_max_age_is_a_refusal(small: TestDatabase, tmp_path: Path,
                                                   cli: Callable[..., Any]) -> None:
    cli_backup(cli, tmp_path, small.url)
    config = tmp_path / "pgwarden.yml"
    config.write_text(config.read_text() + "rehearsal:\n  max_age: 1ms\n")
    done = cli("rehearse", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 4 and "older than rehearsal.max_age" in done.stderr, done.output
    assert scratch_databases(small.server) == []


def test_another_databases_backup_is_a_refusal(small: TestDatabase, other_db: TestDatabase, tmp_path: Path,
                                               cli: Callable[..., Any]) -> None:
    other_db.execute("create table t (id int)")
    foreign = cli_backup(cli, tmp_path, other_db.url)
    done = cli("rehearse", "--backup-id", foreign["id"], cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 4, done.output
    assert f"backup {foreign['id']} is of database '{other_db.name}'" in done.stderr
    # and "latest" does not pick it either
    latest = cli("rehearse", "--backup-id", "latest", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert latest.code == 4 and "other databases only" in latest.stderr
    assert scratch_databases(small.server) == []


def test_an_unset_staging_url_variable_is_a_usage_error(small: TestDatabase, tmp_path: Path,
                                                        cli: Callable[..., Any]) -> None:
    config = tmp_path / "pgwarden.yml"
    config.write_text(config.read_text() + "rehearsal:\n  database_url_env: PGWARDEN_TEST_STAGING_UNSET\n")
    done = cli("rehearse", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 2, done.output
    assert "rehearsal.database_url_env" in done.stderr and "PGWARDEN_TEST_STAGING_UNSET" in done.stderr


def test_a_bad_staging_url_names_the_key(small: TestDatabase, tmp_path: Path, cli: Callable[..., Any]) -> None:
    config = tmp_path / "pgwarden.yml"
    config.write_text(config.read_text() + "rehearsal:\n  database_url_env: STAGING_URL\n")
    done = cli("rehearse", cwd=tmp_path, env={"DATABASE_URL": small.url, "STAGING_URL": "postgresql://a:Sec@h:x/"})
    assert done.code == 2, done.output
    assert "rehearsal.database_url_env: the URL in STAGING_URL is not valid" in done.stderr
    assert "Sec" not in done.output


def test_nothing_pending_restores_nothing(small: TestDatabase, tmp_path: Path, cli: Callable[..., Any]) -> None:
    (tmp_path / "migrations" / "0001_add.sql").unlink()
    cli_backup(cli, tmp_path, small.url)
    done = cli("rehearse", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert report["migrations"] == [] and report["scratch_database"] == "" and report["dropped"] is True


def test_a_staging_server_holds_the_copy(small: TestDatabase, other_db: TestDatabase, tmp_path: Path,
                                         cli: Callable[..., Any]) -> None:
    """rehearsal.database_url_env: the copy is made from the staging URL's server (here the same
    server reached through another database: what matters is that the URL is the staging one)."""
    cli_backup(cli, tmp_path, small.url)
    config = tmp_path / "pgwarden.yml"
    config.write_text(config.read_text() + "rehearsal:\n  database_url_env: STAGING_URL\n")
    done = cli("rehearse", "--format", "json", cwd=tmp_path,
               env={"DATABASE_URL": small.url, "STAGING_URL": other_db.url})
    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert [m["status"] for m in report["migrations"]] == ["applied"]
    assert report["dropped"] and scratch_databases(small.server) == []
    assert small.scalar("select count(*) from information_schema.columns where table_name = 't'") == 1


# --- SIGTERM mid-migration --------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_sigterm_mid_migration_drops_the_scratch_copy(small: TestDatabase, tmp_path: Path,
                                                      cli: Callable[..., Any]) -> None:
    (tmp_path / "migrations" / "0001_add.sql").write_text(
        "ALTER TABLE t ADD COLUMN x int;\nSELECT pg_sleep(120);\n")
    cli_backup(cli, tmp_path, small.url)

    def migrating() -> bool:
        with small.server.admin() as conn:
            return conn.execute("select count(*) from pg_stat_activity where application_name = 'pgwarden-migrate' "
                                "and state = 'active' and query like '%pg_sleep%'").fetchone()[0] > 0

    proc = subprocess.Popen([sys.executable, "-m", "pgwarden", "rehearse"], cwd=tmp_path,
                            env={**os.environ, "DATABASE_URL": small.url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: migrating() or proc.poll() is not None, 90, "the migration to run on the copy")
        assert proc.poll() is None, proc.communicate()
        assert len(scratch_databases(small.server)) == 1
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "dropped the scratch database" in err
    assert scratch_databases(small.server) == []
    assert small.scalar("select count(*) from information_schema.columns where table_name = 't'") == 1
    lines = read_audit_log(tmp_path / ".pgwarden" / "audit.jsonl")
    assert any(line["action"] == "rehearse.drop" and line["outcome"] == "succeeded" for line in lines)


def test_the_password_never_leaves_the_process(secret_db: TestDatabase, tmp_path: Path,
                                               cli: Callable[..., Any]) -> None:
    """A role that logs in with a password (and may create databases, not a superuser): the copy is its
    own; the password is in no output, report or audit line."""
    secret_db.execute("create table t (id int primary key); insert into t select generate_series(1, 10)")
    write_sql_project(tmp_path, {"0001_add": "ALTER TABLE t ADD COLUMN x int;\n"})
    password = urlsplit(secret_db.url).password or ""
    assert password.startswith("Pw-"), "the fixture's role logs in with a password"
    cli_backup(cli, tmp_path, secret_db.url)
    done = cli("rehearse", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": secret_db.url})
    assert done.code == 0, done.output
    assert json.loads(done.stdout)["migrations"][0]["status"] == "applied"
    audit = (tmp_path / ".pgwarden" / "audit.jsonl").read_text()
    for text in (done.stdout, done.stderr, audit):
        assert password not in text
    # Not a superuser: the free space cannot be read, and the progress says why.
    assert "cannot be checked: the role may not read data_directory" in done.stderr
    assert scratch_databases(secret_db.server) == []


def test_no_hook_runs_and_the_text_summary_names_the_failure(small: TestDatabase, tmp_path: Path,
                                                             cli: Callable[..., Any]) -> None:
    """The deploy hooks act on the production app (``php artisan down``): a rehearsal runs none, not even
    on_failure when a migration fails."""
    (tmp_path / "migrations" / "0002_not_null.sql").write_text("ALTER TABLE t ALTER COLUMN x SET NOT NULL;\n")
    config = tmp_path / "pgwarden.yml"
    config.write_text(config.read_text() + "deploy:\n  hooks:\n    pre: touch pre-ran\n    post: touch post-ran\n"
                      "    on_failure: touch on-failure-ran\n")
    cli_backup(cli, tmp_path, small.url)
    done = cli("rehearse", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 1, done.output
    assert not any((tmp_path / name).exists() for name in ("pre-ran", "post-ran", "on-failure-ran"))
    assert done.stdout == ""  # text goes to stderr
    assert "rehearse FAILED: 1 of 2 migration(s) applied" in done.stderr
    assert 'contains null values (23502)' in done.stderr and "0002_not_null  FAILED" in done.stderr
    assert "pgwarden restore" not in done.stderr  # nothing to restore after a rehearsal
    assert scratch_databases(small.server) == []


def test_a_copy_left_behind_is_named_not_dropped(small: TestDatabase, tmp_path: Path,
                                                 cli: Callable[..., Any]) -> None:
    """A rehearsal killed with SIGKILL leaves its copy; the next one names it (it may also be another
    rehearsal's, running now, so it is not dropped)."""
    left = "pgwarden_rehearse_20260101t000000z_abcdef_000000"
    with small.server.admin() as conn:
        conn.execute(f'create database "{left}"')
    try:
        cli_backup(cli, tmp_path, small.url)
        done = cli("rehearse", cwd=tmp_path, env={"DATABASE_URL": small.url})
        assert done.code == 0, done.output
        assert f"left by a rehearsal that was killed or still running: {left} (0 session(s) now)" in done.stderr
        assert scratch_databases(small.server) == [left]
    finally:
        with small.server.admin() as conn:
            conn.execute(f'drop database if exists "{left}"')


def test_a_role_that_may_not_create_databases_is_told_what_to_do(db: TestDatabase, tmp_path: Path,
                                                                  cli: Callable[..., Any]) -> None:
    role = "norehearse_" + db.name[-8:]
    with db.server.admin() as conn:
        conn.execute(f"create role \"{role}\" login nocreatedb password 'Pw-{role}'")
        conn.execute(f'alter database "{db.name}" owner to "{role}"')
    try:
        url = db.server.url_for(db.name, user=role, password=f"Pw-{role}")
        with psycopg_connect(url) as conn:
            conn.execute("create table t (id int primary key)")
        write_sql_project(tmp_path, {"0001_add": "ALTER TABLE t ADD COLUMN x int;\n"})
        cli_backup(cli, tmp_path, db.url)
        done = cli("rehearse", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": url})
        assert done.code == 1, done.output
        error = json.loads(done.stdout)["error"]
        assert "could not create the scratch database" in error["message"] and "CREATEDB" in error["hint"]
        assert "Traceback" not in done.stderr
        assert scratch_databases(db.server) == []
    finally:
        with db.connect() as conn:  # the grant and the table are in the test's database
            conn.execute(f'alter database "{db.name}" owner to current_user')
            conn.execute(f'drop owned by "{role}" cascade')
        with db.server.admin() as conn:
            conn.execute(f'drop role "{role}"')


def test_a_copy_that_differs_from_its_manifest_is_not_rehearsed(small: TestDatabase, tmp_path: Path,
                                                                cli: Callable[..., Any]) -> None:
    manifest = cli_backup(cli, tmp_path, small.url)
    path = tmp_path / "backups" / manifest["id"] / "manifest.json"
    document = json.loads(path.read_text())
    document["tables"] = {name: count + 5 for name, count in document["tables"].items()}
    path.write_text(json.dumps(document))
    done = cli("rehearse", cwd=tmp_path, env={"DATABASE_URL": small.url})
    assert done.code == 1, done.output
    assert "does not hold what its manifest says" in done.stderr and "nothing was rehearsed" in done.stderr
    assert scratch_databases(small.server) == []


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                      (signal.SIGINT, 1, "interrupted")])
def test_a_signal_during_the_restore_drops_the_copy(db: TestDatabase, tmp_path: Path, cli: Callable[..., Any],
                                                    signum: int, code: int, said: str) -> None:
    """Signalled as soon as the scratch database exists (the restore is loading it, or has just
    finished): the copy is gone afterwards, whatever the moment."""
    db.execute("create table big (id int primary key, pad text); "
               "insert into big select g, repeat('x', 200) from generate_series(1, 200000) g")
    write_sql_project(tmp_path, {"0001_add": "ALTER TABLE big ADD COLUMN x int;\nSELECT pg_sleep(60);\n"})
    cli_backup(cli, tmp_path, db.url)
    proc = subprocess.Popen([sys.executable, "-m", "pgwarden", "rehearse"], cwd=tmp_path,
                            env={**os.environ, "DATABASE_URL": db.url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: bool(scratch_databases(db.server)) or proc.poll() is not None, 90,
                  "the scratch database to be created")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert said in err
    assert scratch_databases(db.server) == []
    assert db.scalar("select count(*) from information_schema.columns where table_name = 'big'") == 2
