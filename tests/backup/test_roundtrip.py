"""Backup -> restore preserves everything exactly, in both formats, in place and --into."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgwarden.manifest import BackupManifest
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup
from tests.backup.helpers import create_rich, file_settings, fingerprint


@pytest.mark.parametrize(("dump_format", "compress"), [("custom", None), ("directory", None), ("custom", "gzip:1")])
def test_round_trip_in_place_is_exact(db, tmp_path: Path, dump_format: str, compress: str | None) -> None:
    with db.connect() as conn:
        create_rich(conn)
    before = fingerprint(db.url)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    lines: list[str] = []
    manifest = take_backup(settings, target, dump_format=dump_format, compress=compress, progress=lines.append)
    assert manifest.verified and manifest.format == dump_format
    assert manifest.tables == {"billing.invoices": 5000, "public.customers": 3000}
    assert sorted(manifest.exact_tables) == ["billing.invoices", "public.customers"]
    stored = BackupManifest.loads((tmp_path / "backups" / manifest.id / "manifest.json").read_text())
    assert stored == manifest
    # The database it is of: name and server (pg_control_system's system identifier).
    assert manifest.database == db.name and manifest.origin.endswith(f"/{db.name}")
    assert manifest.system_identifier == str(db.scalar("select system_identifier from pg_control_system()"))

    with db.connect() as conn:  # the bad migration
        conn.execute("delete from billing.invoices where id > 10; alter table customers drop column meta")
        conn.execute("select setval('billing.invoice_numbers', 9999)")
    result = restore_backup(settings, target, "latest", confirm=db.name)
    assert result.ok, result.to_json()
    assert fingerprint(db.url) == before
    assert result.details["rows"]["public.customers"] == {"expected": 3000, "actual": 3000, "exact": True}


def test_restore_into_new_database_prints_switch_over(db, tmp_path: Path) -> None:
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    new_db = db.name + "_r"
    try:
        result = restore_backup(settings, target, manifest.id, into=new_db)
        assert result.ok
        assert fingerprint(db.server.url_for(new_db)) == fingerprint(db.url)
        commands = "\n".join(result.details["switch_over"])
        assert f'ALTER DATABASE "{new_db}" RENAME TO "{db.name}"' in commands
    finally:
        with db.server.admin() as conn:
            conn.execute(f'drop database if exists "{new_db}" with (force)')
