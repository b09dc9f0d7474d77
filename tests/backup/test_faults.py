"""Faults: each ends with a clear message, the right exit code, and no data lost or half-restored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgwarden.errors import OperationFailed
from pgwarden.pg import binaries
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.stores import open_store
from tests.backup.helpers import create_rich, file_settings, fingerprint, make_shims

CONFIG = "backup:\n  store: file://./backups\n"


@pytest.fixture(autouse=True)
def _fresh_binary_cache() -> None:
    binaries._probe.cache_clear()


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pgwarden.yml").write_text(CONFIG)
    return tmp_path


def test_pg_dump_killed_midway_leaves_nothing_restorable(db, tmp_path: Path, monkeypatch, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    # The shim streams 20 kB of a real dump, then dies of SIGKILL.
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log",
                       {"pg_dump": '"$REAL" "$@" | head -c 20000\nkill -9 $$'})
    monkeypatch.setenv("PGWARDEN_PG_BIN", str(shims))
    settings = file_settings(tmp_path)
    with pytest.raises(OperationFailed, match="pg_dump was killed by signal 9"):
        take_backup(settings, DatabaseTarget.from_url(db.url))
    store = open_store("file://./backups", settings)
    assert store.list_manifests() == []
    leftovers = [p for p in (tmp_path / "backups").rglob("*") if p.is_file()]
    assert leftovers == []
    monkeypatch.delenv("PGWARDEN_PG_BIN")
    before = fingerprint(db.url)
    result = cli("restore", "--backup-id", "latest", "--confirm", db.name, cwd=_project(tmp_path),
                 env={"DATABASE_URL": db.url})
    assert result.code == 4, result.output
    assert "no verified backup" in result.stderr
    assert fingerprint(db.url) == before


def test_corrupted_byte_fails_before_touching_the_database(db, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    project = _project(tmp_path)
    made = cli("backup", "--format", "json", cwd=project, env={"DATABASE_URL": db.url})
    assert made.code == 0, made.output
    manifest = json.loads(made.stdout)
    stored = tmp_path / "backups" / manifest["id"] / manifest["files"][0]["name"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 4000")
    before = fingerprint(db.url)
    result = cli("restore", "--backup-id", manifest["id"], "--confirm", db.name, cwd=project,
                 env={"DATABASE_URL": db.url})
    assert result.code == 1, result.output
    assert "checksum mismatch" in result.stderr and manifest["id"] in result.stderr
    assert "Traceback" not in result.output
    assert fingerprint(db.url) == before


def test_wrong_confirm_is_refused_before_anything(db, tmp_path: Path, cli) -> None:
    project = _project(tmp_path)
    result = cli("restore", "--backup-id", "latest", "--confirm", "production", cwd=project,
                 env={"DATABASE_URL": db.url})
    assert result.code == 4
    assert f"does not match the target database '{db.name}'" in result.stderr
    assert not (tmp_path / "backups").exists()  # not even the store was opened


def test_restore_latest_refuses_when_only_backup_is_unverified(db, tmp_path: Path, monkeypatch, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log",
                       {"pg_restore": 'echo "pg_restore: error: injected" >&2; exit 1'})
    project = _project(tmp_path)
    made = cli("backup", cwd=project, env={"DATABASE_URL": db.url, "PGWARDEN_PG_BIN": str(shims)})
    assert made.code == 1
    assert "did not verify" in made.stderr
    listed = cli("backups", "list", "--format", "json", cwd=project)
    backups = json.loads(listed.stdout)["backups"]
    assert len(backups) == 1 and backups[0]["verified"] is False
    assert json.loads(listed.stdout)["latest_verified"] is None
    result = cli("restore", "--backup-id", "latest", "--confirm", db.name, cwd=project, env={"DATABASE_URL": db.url})
    assert result.code == 4 and "no verified backup" in result.stderr and "1 unverified" in result.stderr
    explicit = cli("restore", "--backup-id", backups[0]["id"], "--into", "x_new", cwd=project,
                   env={"DATABASE_URL": db.url})
    assert explicit.code == 4 and "is not verified" in explicit.stderr


def test_pg_dump_too_old_for_the_server_names_versions(db, tmp_path: Path, monkeypatch) -> None:
    old = tmp_path / "oldbin"
    old.mkdir()
    fake = old / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.9'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(old))
    monkeypatch.setattr("pgwarden.pg.embedded.bin_dir", lambda: None)
    with pytest.raises(OperationFailed) as info:
        binaries.find_client("pg_dump", 18)
    assert "server runs PostgreSQL 18" in str(info.value) and "14.9" in str(info.value)
    assert "postgresql-client-18" in str(info.value)


def test_into_existing_database_is_refused(db, tmp_path: Path, cli) -> None:
    project = _project(tmp_path)
    assert cli("backup", cwd=project, env={"DATABASE_URL": db.url}).code == 0
    result = cli("restore", "--backup-id", "latest", "--into", "postgres", cwd=project, env={"DATABASE_URL": db.url})
    assert result.code == 4 and "already exists" in result.stderr
