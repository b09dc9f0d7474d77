"""Planner statistics travel with the backup (pg_dump 18 ``--statistics``) instead of an ANALYZE after the restore.

A restore used to end with an ``ANALYZE`` of every table (0.3 - 0.5 s of the benchmark's 9 s restore,
the one piece of work plain pg_restore does not do). Now the backup carries the statistics the
server had, they come back inside the restore's own transaction, and only what came without them
is analyzed: a table never analyzed at the source, one with an extended statistics object (pg_dump
carries its definition, not its data) and one whose rows the backup left out (its statistics
describe rows that are not there).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pgwarden.errors import OperationFailed
from pgwarden.pg import restore_atomic
from pgwarden.pg.binaries import ClientProgram, find_client
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.dump import dumps_statistics
from pgwarden.pg.restore_session import statistics_args
from pgwarden.pg.script import copy_target
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup
from tests.backup.helpers import create_rich, file_settings, fingerprint

SHAPES = """
create table seen (id int primary key, tag text);
insert into seen select i, 'tag' || (i % 7) from generate_series(1, 2000) i;
create table unseen (id int primary key);
insert into unseen select generate_series(1, 50);
create table paired (a int, b int);
insert into paired select i % 10, i % 10 from generate_series(1, 500) i;
create statistics paired_ab on a, b from paired;
create table scratch (id int);
insert into scratch select generate_series(1, 300);
analyze seen; analyze paired; analyze scratch; analyze customers; analyze billing.invoices;
"""


def _analyzed(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {f"{s}.{t}" for s, t in conn.execute(
            "select schemaname, relname from pg_stat_user_tables where last_analyze is not null").fetchall()}


def test_backup_carries_statistics_and_the_restore_analyzes_only_what_came_without(db, tmp_path: Path) -> None:
    with db.connect() as conn:
        create_rich(conn)
        conn.execute(SHAPES)
        source_stats = conn.execute("select tablename, attname, n_distinct, most_common_vals::text from pg_stats "
                                    "where tablename = 'seen' order by 2").fetchall()
    before = fingerprint(db.url)
    settings = file_settings(tmp_path, exclude_tables=["public.scratch"])
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    with db.connect() as conn:
        conn.execute("delete from seen where id > 10")  # the damage
    lines: list[str] = []
    result = restore_backup(settings, target, manifest.id, confirm=db.name, progress=lines.append)
    assert result.ok, result.to_json()
    assert fingerprint(db.url) == before
    assert db.scalar("select count(*) from seen") == 2000
    with db.connect() as conn:
        # The statistics the source had, not new ones: the same values, and no ANALYZE ran on it.
        assert conn.execute("select tablename, attname, n_distinct, most_common_vals::text from pg_stats "
                            "where tablename = 'seen' order by 2").fetchall() == source_stats
    analyzed = _analyzed(db.url)
    assert "public.seen" not in analyzed and "public.customers" not in analyzed
    # Never analyzed at the source, an extended statistics object, rows left out of the backup.
    assert {"public.unseen", "public.paired", "public.scratch"} <= analyzed
    assert any(line.startswith("planner statistics: analyzed ") and "came with the backup" in line for line in lines)


def test_into_keeps_the_backups_statistics_too(db, tmp_path: Path) -> None:
    with db.connect() as conn:
        create_rich(conn)
        conn.execute(SHAPES)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    new_db = f"{db.name}_stats"
    try:
        result = restore_backup(settings, target, manifest.id, into=new_db)
        assert result.ok, result.to_json()
        restored = db.server.url_for(new_db)
        analyzed = _analyzed(restored)
        assert "public.seen" not in analyzed and "public.unseen" in analyzed
        import psycopg

        with psycopg.connect(restored) as conn:
            row = conn.execute("select count(*) from pg_stats where tablename = 'seen'").fetchone()
        assert row is not None and row[0] == 2
    finally:
        with db.server.admin() as conn:
            conn.execute(f'drop database if exists "{new_db}" with (force)')


def test_the_archive_lists_statistics_and_older_servers_leave_them_out(db, tmp_path: Path) -> None:
    with db.connect() as conn:
        create_rich(conn)
        conn.execute(SHAPES)
    settings = file_settings(tmp_path, compress="none")
    manifest = take_backup(settings, DatabaseTarget.from_url(db.url))
    archive = next((tmp_path / "backups" / manifest.id).glob("*.dump"))
    pg_restore = find_client("pg_restore", 18)
    listing = subprocess.run([str(pg_restore.path), "--list", str(archive)], capture_output=True, text=True,
                             check=True).stdout
    assert "STATISTICS DATA public seen" in listing
    script = subprocess.run([str(pg_restore.path), "--file=-", *statistics_args(pg_restore, 17), str(archive)],
                            capture_output=True, text=True, check=True).stdout
    assert "pg_restore_relation_stats" not in script and "COPY public.seen" in script


def test_which_versions_carry_and_take_statistics() -> None:
    def program(major: int) -> ClientProgram:
        return ClientProgram(f"pg_{major}", Path("/nonexistent"), major, 0)

    assert dumps_statistics(program(18), 18)
    assert not dumps_statistics(program(18), 17)  # a backup of an older server stays as pg_dump wrote it
    assert not dumps_statistics(program(17), 17)
    assert statistics_args(program(18), 18) == []
    assert statistics_args(program(18), 15) == ["--no-statistics"]
    assert statistics_args(program(17), 17) == []  # pg_restore 17 knows no statistics
    assert statistics_args(program(18), None) == []


FOREIGN = """
create table owners (id bigint primary key, name text);
insert into owners select i, 'o' || i from generate_series(1, 3000) i;
create table pets (id bigint primary key, owner_id bigint not null references owners(id), tag text);
insert into pets select i, 1 + i % 3000, md5(i::text) from generate_series(1, 30000) i;
create index pets_owner_idx on pets (owner_id);
create table "Odd ""Q"" s..t a b" (x int);
insert into "Odd ""Q"" s..t a b" values (1), (2);
"""


def test_the_foreign_keys_are_checked_knowing_the_frozen_pages_all_visible(db, tmp_path: Path, monkeypatch) -> None:
    """COPY FREEZE set the pages all-visible: while the foreign keys are validated pg_class says so too
    (so the planner checks them with index-only scans), and afterwards it holds what it held before."""
    with db.connect() as conn:
        conn.execute(FOREIGN)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    db.execute("delete from pets where id > 100")
    seen: list[tuple[str, int, int]] = []
    original = restore_atomic.ScriptRunner._mark_visible

    def watched(self: restore_atomic.ScriptRunner) -> None:
        original(self)
        names = ["owners", "pets", 'Odd "Q" s..t a b']
        seen.extend(self.cur.execute(
            "select relname::text, relpages, relallvisible from pg_catalog.pg_class where relname "
            "operator(pg_catalog.=) any(%s::pg_catalog.text[]) order by 1", (names,)).fetchall())

    monkeypatch.setattr(restore_atomic.ScriptRunner, "_mark_visible", watched)
    result = restore_backup(settings, target, manifest.id, confirm=db.name)
    assert result.ok, result.to_json()
    assert db.scalar("select count(*) from pets") == 30000
    assert len(seen) == 3 and all(pages > 0 and visible == pages for _, pages, visible in seen), seen
    # Put back: the source was never vacuumed, and what ANALYZE counts in the visibility map now is
    # what pg_class says after the restore (nearly all pages, not claimed all).
    after = dict(db.execute("select relname, relallvisible from pg_class where relname = 'pets'"))
    assert 0 < after["pets"] <= dict((n, p) for n, p, _ in seen)["pets"]


def test_the_foreign_key_is_still_validated(db, tmp_path: Path) -> None:
    """Rows the backup holds that break a foreign key (written with the triggers off) still fail the
    restore, which changes nothing: the hint changes how the key is checked, not whether."""
    with db.connect() as conn:
        conn.execute(FOREIGN)
        conn.execute("set session_replication_role = replica")
        conn.execute("insert into pets values (999999, 424242, 'orphan')")
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    with db.connect() as conn:
        conn.execute("delete from pets where id = 999999")
        conn.execute("create table added_later (x int)")
    with pytest.raises(OperationFailed, match="rolled back") as failed:
        restore_backup(settings, target, manifest.id, confirm=db.name)
    assert "foreign key" in str(failed.value)
    assert db.scalar("select count(*) from pets") == 30000
    assert db.scalar("select to_regclass('public.added_later')") is not None


def test_copy_target_keeps_the_scripts_quoting() -> None:
    assert copy_target(b"COPY public.events (id, kind) FROM stdin;\n") == "public.events"
    assert copy_target(b'COPY "my s"."Odd ""Q"" (x" (a) FROM stdin;\n') == '"my s"."Odd ""Q"" (x"'
    assert copy_target(b"COPY public.t FROM stdin;\n") == "public.t"
