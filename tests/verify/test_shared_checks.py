"""verify and drill run the same checks the same way: custom SQL checks, the RTO span.

Each test runs one configuration through both steps against the real PostgreSQL: ``verify`` on
the deployed database, ``drill`` on its scratch copy of the newest verified backup. They used to
differ (drill ran checks read-write, without a timeout, and passed only a boolean ``true``; its
RTO span left out the row-count comparison that restore's included).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import pgwarden.pipeline.checks as checks_module
import pgwarden.pipeline.restore_load as restore_load
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.checks import RecoveryClock, equals_expected, is_true
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.pipeline.drill import run_drill
from pgwarden.pipeline.restore import restore_backup
from pgwarden.pipeline.verify import run_verify
from tests.deploy.helpers import write_project

INIT = """
create table customers (id bigserial primary key, email text not null);
insert into customers (email) select 'c' || g || '@example.com' from generate_series(1, 50) g;
"""

CHECKS = (
    "verify:\n  checks:\n"
    "    - {name: writes, sql: 'delete from customers returning true'}\n"
    "    - {name: slow, sql: 'select true from pg_sleep(3)'}\n"
    "    - {name: text true, sql: \"select 't'::text\"}\n"
    "    - {name: a count, sql: 'select count(*) from customers'}\n"
    "    - {name: numeric expect, sql: 'select 50.0::numeric', expect: '50'}\n"
    "    - {name: boolean expect, sql: 'select false', expect: 'false'}\n"
    "    - {name: zero, sql: 'select 0'}\n"
    "    - {name: no row, sql: 'select true where false'}\n"
)


def _both(db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = CHECKS):
    """The results of verify and drill (in that order) with ``extra`` in the config."""
    monkeypatch.setattr(checks_module, "CHECK_TIMEOUT", "300ms")
    settings = write_project(tmp_path, {"0001_init": INIT}, extra=extra)
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    take_backup(settings, target)
    return run_verify(settings, target), run_drill(settings, target)


def test_custom_checks_are_judged_alike_by_verify_and_drill(db, tmp_path: Path, monkeypatch) -> None:
    for result in _both(db, tmp_path, monkeypatch):
        checks = {c.name: c for c in result.checks}
        writes = checks["writes"]
        assert not writes.ok and "read-only transaction" in writes.detail, (result.step, writes)
        slow = checks["slow"]
        assert not slow.ok and "statement timeout" in slow.detail, (result.step, slow)
        assert checks["text true"].ok and checks["a count"].ok, result.step
        assert checks["numeric expect"].ok and checks["boolean expect"].ok, result.step
        assert not checks["zero"].ok and not checks["no row"].ok, result.step
        assert checks["zero"].detail == "returned 0, expected true"
    assert db.scalar("select count(*) from customers") == 50


def test_truthiness_rule() -> None:
    assert all(is_true(v) for v in (True, 1, 2.5, "t", "TRUE", " yes ", "on", "1"))
    assert not any(is_true(v) for v in (False, 0, 0.0, None, "f", "false", "", "2", b"t"))
    assert equals_expected(5000, "5000") and equals_expected(5000, "5000.0") and equals_expected("x", "x")
    assert equals_expected(True, "true") and equals_expected(False, "off") and not equals_expected(True, "false")
    assert not equals_expected("abc", "abd") and not equals_expected(None, "1")


def test_restore_and_drill_measure_the_same_recovery_span(db, tmp_path: Path, monkeypatch) -> None:
    """The span ends when the restored rows are counted, in restore and drill alike."""
    counting = restore_load.compare_rows

    def slow_count(*args, **kwargs):
        time.sleep(0.5)
        return counting(*args, **kwargs)

    monkeypatch.setattr(restore_load, "compare_rows", slow_count)
    settings = write_project(tmp_path, {"0001_init": INIT}, extra="restore:\n  rto: 400ms\n")
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    backup = take_backup(settings, target)
    copy = f"{db.name}_copy"
    try:
        restored = restore_backup(settings, target, backup.id, into=copy)
    finally:
        with db.server.admin() as admin:
            admin.execute(f'drop database if exists "{copy}" with (force)')
    drill = run_drill(settings, target)
    for result, span in ((restored, restored.duration_s), (drill, drill.details["restore_s"])):
        assert span >= 0.5, result.step
        rto = {c.name: c for c in result.checks}["within the recovery time objective"]
        assert not rto.ok and rto.warning, result.step
        assert rto.detail.endswith("against restore.rto 400ms"), rto.detail
        assert result.ok, result.step  # over the RTO is a warning: the restore stands
    assert restored.details["within_rto"] is False


def test_recovery_clock_stops_once() -> None:
    clock = RecoveryClock()
    first = clock.stop()
    time.sleep(0.01)
    assert clock.stop() == first == clock.seconds
    assert clock.within(first) and not clock.within(first / 2)
