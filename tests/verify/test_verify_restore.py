"""Verifying a restore (`verify --restored-from ID`): the backup's head and rows, not "all applied".

A responder restores the backup taken before a bad deploy. Afterwards the database is at the
backup's migration head and the deploy's migrations are pending again; that is the correct
state, so verify must say so (with the way back) instead of failing "every migration applied".
"""

from __future__ import annotations

from pathlib import Path

from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.pipeline.restore import restore_backup
from pgwarden.pipeline.verify import run_verify
from tests.deploy.helpers import add_migration, write_project

INIT = """
create table customers (id bigserial primary key, email text not null);
insert into customers (email) select 'c' || g || '@example.com' from generate_series(1, 300) g;
"""


def _restored(db, tmp_path: Path):
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    backup = take_backup(settings, target)
    add_migration(settings, "0002_points", "create table points (customer_id bigint references customers (id));\n")
    assert run_deploy(settings, target, backup_id=backup.id).ok
    db.execute("delete from customers where id > 10 and id not in (select customer_id from points)")
    result = restore_backup(settings, target, backup.id, confirm=target.dbname)
    assert result.ok, result.summary
    return settings, target, backup


def test_verify_restored_from_expects_the_backup_head_and_names_what_to_reapply(db, tmp_path: Path) -> None:
    settings, target, backup = _restored(db, tmp_path)
    result = run_verify(settings, target, restored_from=backup.id)
    assert result.ok, [c for c in result.checks if not c.ok]
    checks = {c.name: c for c in result.checks}
    assert checks["migration head matches the backup"].ok
    pending = checks["migrations after the backup are pending again"]
    assert pending.warning and "0002_points" in pending.detail and "pgwarden deploy" in pending.detail
    rows = {r["table"]: r for r in result.details["row_counts"]}
    assert rows["public.customers"]["before"] == rows["public.customers"]["after"] == 300
    assert result.details["restored_from"] == backup.id


def test_plain_verify_after_a_rollback_restore_still_reports_the_missing_migration(db, tmp_path: Path) -> None:
    settings, target, _ = _restored(db, tmp_path)
    result = run_verify(settings, target)
    assert not result.ok
    assert result.checks[0].name == "every migration applied" and "0002_points" in result.checks[0].detail


def test_verify_restored_from_catches_rows_lost_after_the_restore(db, tmp_path: Path) -> None:
    settings, target, backup = _restored(db, tmp_path)
    db.execute("delete from customers where id > 100")
    result = run_verify(settings, target, restored_from=backup.id)
    assert not result.ok
    rows = {c.name: c for c in result.checks}["row counts match the backup"]
    assert "public.customers: 100 rows, backup had 300" in rows.detail


def test_verify_restored_from_fails_on_a_single_lost_row(db, tmp_path: Path) -> None:
    # One row of 300 is far inside the deploy tolerance (5 %), but after a restore nothing may be missing.
    settings, target, backup = _restored(db, tmp_path)
    db.execute("delete from customers where id = 300")
    result = run_verify(settings, target, restored_from=backup.id)
    assert not result.ok
    rows = {c.name: c for c in result.checks}["row counts match the backup"]
    assert not rows.ok and not rows.warning
    # The same policy and words as the restore's own comparison.
    assert rows.detail == "public.customers: 299 rows, backup had 300"
