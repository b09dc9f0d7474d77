"""`pgwarden plan` and Prisma: a folder in Prisma's order (folder name, shared timestamps); a missing history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pgwarden.records import Category, Migration, Severity
from pgwarden.risk.rules import history_missing
from pgwarden.tools.prisma_order import is_prisma_folder, migration_files


def _folder(root: Path, name: str, sql: str) -> None:
    (root / name).mkdir()
    (root / name / "migration.sql").write_text(sql)


def _prisma(tmp_path: Path, *, lock_file: bool = True) -> Path:
    root = tmp_path / "migrations"
    root.mkdir()
    if lock_file:
        (root / "migration_lock.toml").write_text('provider = "postgresql"\n')
    _folder(root, "20240102000000_b_second", "CREATE TABLE b (id int);\n")
    _folder(root, "20240101000000_init", "CREATE TABLE a (id int);\n")
    # Same timestamp as the next one: Prisma accepts it and orders by the whole folder name.
    _folder(root, "20240103000000_orders", "DROP TABLE legacy_orders;\n")
    _folder(root, "20240103000000_customers", "CREATE TABLE c (id int);\n")
    return root


def test_shared_timestamp_is_ordered_by_folder_name(cli, tmp_path: Path) -> None:
    root = _prisma(tmp_path)
    result = cli("plan", "--format", "json", "--fail-on", "never", str(root), cwd=tmp_path, env={"DATABASE_URL": ""})
    assert result.code == 0, result.stderr
    names = [m["name"] for m in json.loads(result.stdout)["migrations"]]
    assert names == ["20240101000000_init", "20240102000000_b_second", "20240103000000_customers",
                     "20240103000000_orders"]
    drop = next(f for f in json.loads(result.stdout)["findings"] if f["rule"] == "drop-table")
    assert drop["migration"] == "20240103000000_orders"


def test_layout_without_lock_file_is_recognised(tmp_path: Path) -> None:
    root = _prisma(tmp_path, lock_file=False)
    assert is_prisma_folder(root)
    assert [name for name, _ in migration_files(root)][-2:] == ["20240103000000_customers", "20240103000000_orders"]


def test_plain_sql_folder_keeps_its_version_check(cli, tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (id int);\n")
    (tmp_path / "0001_b.sql").write_text("CREATE TABLE b (id int);\n")
    assert not is_prisma_folder(tmp_path)
    result = cli("plan", str(tmp_path), cwd=tmp_path, env={"DATABASE_URL": ""})
    assert result.code == 2 and "same version" in result.stderr


def test_folder_without_migration_sql_is_refused_as_prisma_refuses_it(cli, tmp_path: Path) -> None:
    root = _prisma(tmp_path)
    (root / "20240104000000_notes").mkdir()
    result = cli("plan", str(root), cwd=tmp_path, env={"DATABASE_URL": ""})
    assert result.code == 2 and "P3015" in result.stderr and "20240104000000_notes" in result.stderr


# --- No _prisma_migrations in a database that has the schema (false alarm 6 of issue 15) -----------

def _plan_live(db: Any, tmp_path: Path) -> Any:
    from pgwarden.pg.connection import DatabaseTarget
    from pgwarden.pipeline.plan import plan_migrations
    from tests.tools.helpers import copy_project, settings_for

    project = copy_project("prisma", tmp_path)
    return plan_migrations(settings_for("prisma", project), target=DatabaseTarget.from_url(db.url))


def test_history_missing_while_the_created_tables_exist_is_one_high_finding(db: Any, tmp_path: Path) -> None:
    db.execute('create table "User" (id serial primary key, email text, name text)')
    db.execute('insert into "User" (email) select \'u\' || g from generate_series(1, 120000) g')
    db.execute('create table "Post" (id serial primary key, title text)')
    db.execute("analyze")
    report = _plan_live(db, tmp_path)
    [missing] = [f for f in report.findings if f.rule == "history-missing"]
    assert missing.severity is Severity.HIGH and missing.category is Category.WILL_FAIL
    assert missing.migration == "20240110093000_init" and report.blocked
    assert "no _prisma_migrations table" in missing.message and "all 5 migration(s)" in missing.message
    assert "User: about 120,000 rows" in missing.message and "Post: empty" in missing.message
    assert "prisma migrate resolve --applied" in missing.suggestion
    assert missing.context["existing_tables"] == 2


def test_a_fresh_database_or_a_recorded_history_gives_no_history_finding(db: Any, tmp_path: Path) -> None:
    assert not [f for f in _plan_live(db, tmp_path).findings if f.rule == "history-missing"]
    from tests.corpus.prisma.fake_prisma import DDL

    db.execute(DDL)  # the history table exists (empty): what it says is pending is trusted
    db.execute('create table "User" (id int)')
    assert not [f for f in _plan_live(db, tmp_path / "again").findings if f.rule == "history-missing"]


def test_created_tables_skips_if_not_exists() -> None:
    migration = Migration("m", "m.sql", sql="CREATE TABLE a (id int); CREATE TABLE IF NOT EXISTS b (id int);\n"
                                             "CREATE TABLE s.c (id int);")
    assert [t.display for _, t in history_missing.created_tables([migration])] == ["a", "s.c"]
