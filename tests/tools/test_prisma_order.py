"""`pgwarden plan <folder>` on a Prisma migrations folder: Prisma's order (folder name), shared timestamps."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_folder_without_migration_sql_is_skipped_like_an_empty_entry(tmp_path: Path) -> None:
    root = _prisma(tmp_path)
    (root / "20240104000000_notes").mkdir()
    assert "20240104000000_notes" not in [name for name, _ in migration_files(root)]
