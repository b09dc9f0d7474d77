"""Backups are matched to the database they are of (issue 13, item 2).

Two databases back up into one store: ``restore latest``, ``drill``, ``backups show latest`` and
deploy's backup choice take the target database's newest backup, never the store's newest, and a
backup of another database, or of a database of the same name on another server (told apart by
``pg_control_system().system_identifier``), is refused (exit 4, naming both) unless
``--allow-other-database``. Manifests written before the identity was recorded still read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgwarden.pg.embedded import start_embedded
from tests.backup.helpers import create_rich
from tests.fix_pg import PG15_URL, PgServer, TestDatabase
from tests.fix_project import cli_backup, write_sql_project

CONFIG = "backup:\n  store: file://./backups\n"


def table_checksums(url: str) -> dict[str, str]:
    """md5 over every row of every user table: equal means the same contents."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute("select schemaname, relname from pg_stat_user_tables order by 1, 2").fetchall()
        sums = {}
        for schema, name in tables:
            query = sql.SQL("select md5(coalesce(string_agg(r::text, ',' order by r::text), '')) from {} r")
            sums[f"{schema}.{name}"] = conn.execute(query.format(sql.Identifier(schema, name))).fetchone()[0]
        return sums


def system_identifier(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return str(conn.execute("select system_identifier from pg_control_system()").fetchone()[0])


@pytest.fixture
def other_db(other_db: TestDatabase) -> TestDatabase:
    """The second database of fix_pg, with other contents than ``db``."""
    with other_db.connect() as conn:
        conn.execute("create table ledger (id int primary key, note text);"
                     "insert into ledger select i, 'other ' || i from generate_series(1, 500) i")
    return other_db


@pytest.fixture(scope="module")
def second_server() -> Iterator[PgServer]:
    """Another PostgreSQL cluster (its own initdb, so its own system identifier): the older server of
    the cross-version tests when it answers (no start-up cost), else a second embedded one."""
    try:
        with psycopg.connect(PG15_URL, connect_timeout=2, autocommit=True):
            pass
        yield PgServer(admin_url=PG15_URL, embedded=None)
        return
    except psycopg.OperationalError:
        pass
    server = start_embedded()
    try:
        yield PgServer(admin_url=server.url(), embedded=server)
    finally:
        server.stop()


def test_restore_latest_takes_the_targets_backup_not_the_newest_in_the_store(db, other_db, tmp_path: Path,
                                                                              cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    ours = cli_backup(cli, tmp_path, db.url)["id"]
    theirs = cli_backup(cli, tmp_path, other_db.url)["id"]  # newer, of another database
    before = table_checksums(db.url)
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 10")

    result = cli("restore", "--backup-id", "latest", "--confirm", db.name, cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 0, result.output
    assert f"restored backup {ours}" in result.stdout and theirs not in result.stdout
    assert table_checksums(db.url) == before
    assert "Traceback" not in result.output

    shown = cli("backups", "show", "latest", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert shown.code == 0 and json.loads(shown.stdout)["id"] == ours
    drilled = cli("drill", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert drilled.code == 0, drilled.output
    assert json.loads(drilled.stdout)["backup_id"] == ours


def test_another_databases_backup_is_refused_unless_asked_for(db, other_db, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    theirs = cli_backup(cli, tmp_path, other_db.url)["id"]
    before = table_checksums(db.url)
    env = {"DATABASE_URL": db.url}

    latest = cli("restore", "--backup-id", "latest", "--confirm", db.name, cwd=tmp_path, env=env)
    assert latest.code == 4, latest.output
    assert f"no verified backup of database '{db.name}'" in latest.stderr
    assert other_db.name in latest.stderr and theirs in latest.stderr  # says what the store does hold
    refused = cli("restore", "--backup-id", theirs, "--confirm", db.name, cwd=tmp_path, env=env)
    assert refused.code == 4, refused.output
    assert f"is of database '{other_db.name}'" in refused.stderr and f"'{db.name}'" in refused.stderr
    assert "--allow-other-database" in refused.stderr
    assert "Traceback" not in latest.output + refused.output
    assert table_checksums(db.url) == before

    drill = cli("drill", cwd=tmp_path, env=env)
    assert drill.code == 1 and f"no verified backup of database '{db.name}'" in drill.stderr
    assert other_db.name in drill.stderr

    asked = cli("restore", "--backup-id", theirs, "--confirm", db.name, "--allow-other-database", cwd=tmp_path, env=env)
    assert asked.code == 0, asked.output
    restored = table_checksums(db.url)  # in place replaces the backup's schemas: public
    assert restored["public.ledger"] == table_checksums(other_db.url)["public.ledger"]
    assert "public.customers" not in restored


def test_backups_show_latest_of_a_shared_store_needs_the_database(db, other_db, tmp_path: Path, cli) -> None:
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    ours = cli_backup(cli, tmp_path, db.url)["id"]
    cli_backup(cli, tmp_path, other_db.url)
    ambiguous = cli("backups", "show", "latest", cwd=tmp_path)
    assert ambiguous.code == 4 and "holds backups of 2 databases" in ambiguous.stderr
    assert db.name in ambiguous.stderr and other_db.name in ambiguous.stderr
    shown = cli("backups", "show", "latest", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert json.loads(shown.stdout)["id"] == ours
    listed = cli("backups", "list", "--format", "json", cwd=tmp_path)
    databases = {d["database"]: d for d in json.loads(listed.stdout)["databases"]}
    assert databases[db.name]["latest_verified"] == ours
    assert databases[db.name]["system_identifier"] == system_identifier(db.url)


def test_same_name_on_another_server_is_another_database(db, second_server: PgServer, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    with second_server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(db.name)))
    twin = TestDatabase(db.name, second_server.url_for(db.name), second_server)
    try:
        _same_name_on_another_server(db, twin, tmp_path, cli)
    finally:
        with second_server.admin() as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(db.name)))


def _same_name_on_another_server(db, twin: TestDatabase, tmp_path: Path, cli) -> None:
    with twin.connect() as conn:
        conn.execute("create table customers (id int primary key); insert into customers values (1), (2)")
    write_sql_project(tmp_path, {"0001_t": "create table t (id int);\n"}, extra="deploy:\n  audit_log: audit.jsonl\n")
    ours = cli_backup(cli, tmp_path, db.url)["id"]
    theirs = cli_backup(cli, tmp_path, twin.url)["id"]  # newer, same name, other server
    here, there = system_identifier(db.url), system_identifier(twin.url)
    assert here != there
    manifest = json.loads((tmp_path / "backups" / theirs / "manifest.json").read_text())
    assert manifest["system_identifier"] == there and manifest["database"] == db.name
    before = table_checksums(db.url)
    env = {"DATABASE_URL": db.url}

    latest = cli("restore", "--backup-id", "latest", "--confirm", db.name, cwd=tmp_path, env=env)
    assert latest.code == 0, latest.output
    assert f"restored backup {ours}" in latest.stdout
    refused = cli("restore", "--backup-id", theirs, "--confirm", db.name, cwd=tmp_path, env=env)
    assert refused.code == 4, refused.output
    assert here in refused.stderr and there in refused.stderr
    assert table_checksums(db.url) == before

    deployed = cli("deploy", "--format", "json", cwd=tmp_path, env=env)
    assert deployed.code == 0, deployed.output
    assert json.loads(deployed.stdout)["backup_id"] == ours
    (tmp_path / "migrations" / "0002_u.sql").write_text("create table u (id int);\n")
    foreign = cli("deploy", "--backup-id", theirs, cwd=tmp_path, env=env)
    assert foreign.code == 4, foreign.output
    assert here in foreign.stderr and there in foreign.stderr and "--allow-other-database" in foreign.stderr
    assert db.scalar("select to_regclass('u')") is None
    allowed = cli("deploy", "--backup-id", theirs, "--allow-other-database", cwd=tmp_path, env=env)
    assert allowed.code == 0, allowed.output
    assert db.scalar("select to_regclass('u')") == "u"


def test_manifest_without_identity_still_reads_and_matches_by_name(db, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    old = cli_backup(cli, tmp_path, db.url)["id"]
    path = tmp_path / "backups" / old / "manifest.json"
    data = json.loads(path.read_text())
    for key in ("system_identifier", "origin"):  # what a manifest of an older pgwarden lacks
        data.pop(key)
    path.write_text(json.dumps(data))
    listed = cli("backups", "list", cwd=tmp_path)
    assert listed.code == 0 and old in listed.stdout
    shown = cli("backups", "show", old, "--format", "json", cwd=tmp_path)
    assert json.loads(shown.stdout)["system_identifier"] is None
    before = table_checksums(db.url)
    with db.connect() as conn:
        conn.execute("truncate billing.invoices")
    result = cli("restore", "--backup-id", "latest", "--confirm", db.name, cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 0, result.output
    assert "matched by name only" in result.stderr
    assert table_checksums(db.url) == before


def test_a_recreated_database_keeps_its_backups(db, tmp_path: Path, cli) -> None:
    """Dropped and created again on the same server (a responder's first step, sometimes): same name
    and server, so its backups are still its own."""
    name = "t_" + uuid.uuid4().hex[:12]
    with db.server.admin() as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = db.server.url_for(name)
    try:
        (tmp_path / "pgwarden.yml").write_text(CONFIG)
        taken = cli_backup(cli, tmp_path, url)["id"]
        with db.server.admin() as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        result = cli("restore", "--backup-id", "latest", "--confirm", name, cwd=tmp_path, env={"DATABASE_URL": url})
        assert result.code == 0, result.output
        assert f"restored backup {taken}" in result.stdout
    finally:
        with db.server.admin() as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_status_shows_this_databases_latest_backup(db, other_db, tmp_path: Path, cli) -> None:
    write_sql_project(tmp_path, {"0001_t": "create table t (id int);\n"})
    ours = cli_backup(cli, tmp_path, db.url)["id"]
    cli_backup(cli, tmp_path, other_db.url)["id"]  # newer, of another database
    shown = cli("status", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert json.loads(shown.stdout)["latest_backup"]["id"] == ours
