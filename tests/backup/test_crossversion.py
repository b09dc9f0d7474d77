"""Back up PostgreSQL 15 with pg_dump 18 and restore into 15 (skips without a 15 server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgwarden.errors import OperationFailed
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup
from tests.backup.helpers import create_rich, file_settings, fingerprint


def test_pg18_dump_of_pg15_restores_into_pg15(pg15, tmp_path: Path) -> None:
    with pg15.connect() as conn:
        create_rich(conn)
    before = fingerprint(pg15.url)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(pg15.url)
    manifest = take_backup(settings, target)
    assert manifest.pg_dump_version.startswith("18.") and manifest.server_version.startswith("15.")
    with pg15.connect() as conn:
        conn.execute("drop table billing.invoices")
    result = restore_backup(settings, target, manifest.id, confirm=pg15.name)
    assert result.ok, result.to_json()
    assert "transaction_timeout" in result.details["skipped_settings"]
    assert fingerprint(pg15.url) == before


def test_other_errors_fail_and_roll_back_on_older_server(db, pg15, tmp_path: Path) -> None:
    """A PG 18 dump using an 18-only feature cannot go into 15: the restore fails and changes nothing."""
    with db.connect() as conn:
        create_rich(conn)
        conn.execute("create table virt (a int, b int generated always as (a * 2) virtual)")
    settings = file_settings(tmp_path)
    manifest = take_backup(settings, DatabaseTarget.from_url(db.url))
    with pg15.connect() as conn:
        conn.execute("create table keep_me (x int); insert into keep_me values (1)")
    with pytest.raises(OperationFailed, match="rolled back"):
        # Another database on another server, on purpose: the restore must still fail for the 18-only feature.
        restore_backup(settings, DatabaseTarget.from_url(pg15.url), manifest.id, confirm=pg15.name,
                       allow_other_database=True)
    assert pg15.scalar("select count(*) from keep_me") == 1
    assert pg15.scalar("select to_regclass('public.customers')") is None


def test_a_pg18_backup_with_statistics_restores_into_15_without_them(db, pg15, tmp_path: Path) -> None:
    """pg_dump 18 of an 18 server carries planner statistics; a 15 server has no pg_restore_*_stats():
    the restore leaves them out and analyzes every table instead."""
    with db.connect() as conn:
        create_rich(conn)
    before = fingerprint(db.url)
    settings = file_settings(tmp_path)
    manifest = take_backup(settings, DatabaseTarget.from_url(db.url))
    result = restore_backup(settings, DatabaseTarget.from_url(pg15.url), manifest.id, confirm=pg15.name,
                            allow_other_database=True)
    assert result.ok, result.to_json()
    after = fingerprint(pg15.url)
    # PostgreSQL 18 lists NOT NULL as constraints in pg_constraint, 15 does not: same columns either way.
    before["constraints"] = [c for c in before["constraints"] if not c[1].startswith("NOT NULL")]
    assert after == before
    unanalyzed = pg15.scalar("select count(*) from pg_stat_user_tables where last_analyze is null "
                             "and last_autoanalyze is null")
    assert unanalyzed == 0
