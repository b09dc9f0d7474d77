"""The `sql` migration tool: ordering, history, edits after apply, failures, CONCURRENTLY."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgwarden.config import parse_settings
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.records import MigrationStatus
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.sqldir import SqlDirTool, discover, needs_own_transaction, version_of
from tests.fix_pg import TestDatabase

LIMITS = SessionLimits(lock_timeout_s=2.0, statement_timeout_s=30.0)


def make_tool(folder: Path) -> SqlDirTool:
    settings = parse_settings(f"migrations: {{tool: sql, path: {folder}}}\n", "pgwarden.yml", str(folder.parent))
    return SqlDirTool(settings)


def test_versions_sort_numerically_not_as_strings(tmp_path: Path) -> None:
    for name in ["V10__ten.sql", "V9__nine.sql", "V1_1__one_dot_one.sql", "V1__one.sql"]:
        (tmp_path / name).write_text("select 1;")
    assert [f.name for f in discover(tmp_path)] == ["V1__one", "V1_1__one_dot_one", "V9__nine", "V10__ten"]


def test_all_accepted_naming_styles(tmp_path: Path) -> None:
    (tmp_path / "0003_add_x.sql").write_text("select 1;")
    (tmp_path / "20240101120000_add_y.sql").write_text("select 1;")
    (tmp_path / "0002_folder").mkdir()
    (tmp_path / "0002_folder" / "migration.sql").write_text("select 1;")
    (tmp_path / "README.md").write_text("not a migration")
    names = [f.name for f in discover(tmp_path)]
    assert names == ["0002_folder", "0003_add_x", "20240101120000_add_y"]
    assert version_of("V3__add_x") == (3,)


def test_unversioned_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "add_stuff.sql").write_text("select 1;")
    with pytest.raises(ConfigError, match=r"add_stuff\.sql"):
        discover(tmp_path)


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("select 1;")
    (tmp_path / "1_b.sql").write_text("select 1;")
    with pytest.raises(ConfigError, match="same version"):
        discover(tmp_path)


def test_apply_records_history_and_only_pending_run_again(tmp_path: Path, db: TestDatabase) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create.sql").write_text("create table t (id int primary key);")
    (folder / "0002_insert.sql").write_text("insert into t values (1), (2);")
    tool = make_tool(folder)
    target = DatabaseTarget.from_url(db.url)

    result = tool.apply(target, LIMITS, run_id="run-1")
    assert result.ok and result.applied == ["0001_create", "0002_insert"]
    rows = db.execute("select name, checksum, finished_at is not null, run_id, duration_ms >= 0 "
                      "from pgwarden_migrations order by name")
    assert [r[0] for r in rows] == ["0001_create", "0002_insert"]
    assert all(len(r[1]) == 64 and r[2] and r[3] == "run-1" and r[4] for r in rows)

    (folder / "0003_more.sql").write_text("insert into t values (3);")
    result = tool.apply(target, LIMITS)
    assert result.applied == ["0003_more"]
    assert db.scalar("select count(*) from t") == 3
    with connect(target) as conn:
        assert tool.head(conn) == "0003_more"
        assert [m.status for m in tool.migrations(conn)] == [MigrationStatus.APPLIED] * 3


def test_edited_after_apply_is_an_error_not_a_rerun(tmp_path: Path, db: TestDatabase) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0003_add_x.sql").write_text("create table x (id int);")
    tool = make_tool(folder)
    target = DatabaseTarget.from_url(db.url)
    assert tool.apply(target, LIMITS).ok
    (folder / "0003_add_x.sql").write_text("create table x (id bigint);")
    with pytest.raises(OperationFailed, match="migration 0003_add_x was edited after it was applied"):
        tool.apply(target, LIMITS)


def test_failure_rolls_back_the_file_and_records_the_error(tmp_path: Path, db: TestDatabase) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("create table a (id int);")
    (folder / "0002_bad.sql").write_text("create table b (id int);\ninsert into nope values (1);")
    (folder / "0003_never.sql").write_text("create table c (id int);")
    result = make_tool(folder).apply(DatabaseTarget.from_url(db.url), LIMITS)
    assert result.applied == ["0001_ok"]
    assert result.failed == "0002_bad"
    assert result.error is not None and 'relation "nope" does not exist' in result.error
    # The failed file ran in a transaction: its first statement was rolled back too.
    assert db.scalar("select to_regclass('b')") is None
    assert db.scalar("select to_regclass('c')") is None
    row = db.execute("select finished_at, error from pgwarden_migrations where name = '0002_bad'")[0]
    assert row[0] is None and "nope" in row[1]
    with connect(DatabaseTarget.from_url(db.url)) as conn:
        statuses = {m.name: m.status for m in make_tool(folder).migrations(conn)}
    assert statuses["0002_bad"] is MigrationStatus.FAILED


def test_concurrently_runs_outside_a_transaction(tmp_path: Path, db: TestDatabase) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_t.sql").write_text("create table t (id int, v int);")
    (folder / "0002_idx.sql").write_text("-- no transaction possible here\n"
                                         "create index concurrently t_v_idx on t (v);\n"
                                         "create index concurrently t_id_idx on t (id);\n")
    assert needs_own_transaction((folder / "0002_idx.sql").read_text())
    result = make_tool(folder).apply(DatabaseTarget.from_url(db.url), LIMITS)
    assert result.ok, result.error
    assert db.scalar("select count(*) from pg_indexes where tablename = 't'") == 2


def test_lock_timeout_reaches_the_session(tmp_path: Path, db: TestDatabase) -> None:
    db.execute("create table busy (id int)")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_alter.sql").write_text("alter table busy add column x int;")
    blocker = db.connect(autocommit=False)
    try:
        blocker.execute("select * from busy")  # holds ACCESS SHARE until rollback
        result = make_tool(folder).apply(DatabaseTarget.from_url(db.url), SessionLimits(0.3, 30.0))
    finally:
        blocker.rollback()
        blocker.close()
    assert result.failed == "0001_alter"
    assert result.lock_timeout_hit
    assert "lock timeout" in (result.error or "")


def test_a_user_without_a_passwd_entry_can_apply(
    tmp_path: Path, db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `docker run --user 1234`: getpass.getuser() raised KeyError and the deploy crashed.
    def no_passwd_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 1234")

    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    monkeypatch.setattr("getpass.getuser", no_passwd_entry)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create.sql").write_text("create table t (id int primary key);")
    result = make_tool(folder).apply(DatabaseTarget.from_url(db.url), LIMITS)
    assert result.ok and result.applied == ["0001_create"]
    assert db.scalar("select applied_by from pgwarden_migrations") == f"uid {os.getuid()}"
