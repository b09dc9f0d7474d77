"""An in-place restore and a deploy of the same database never run at once (they share the deploy lock).

restore.yml runs in its own concurrency group, apart from migrate.yml's, so GitHub no longer keeps
them apart: a deploy approved during a restore would migrate a half-replaced database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgwarden.errors import SafetyRefusal
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.deploy_lock import RESTORE_LOCK_APPLICATION_NAME, DeployLock
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.pipeline.restore import restore_backup
from tests.deploy.helpers import add_migration, write_project

INIT = "create table items (id int primary key);\ninsert into items values (1), (2);\n"


def test_a_deploy_waits_out_an_in_place_restore_and_says_so(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    settings.deploy.lock_wait = 0.5
    with DeployLock(target, wait_s=1, application_name=RESTORE_LOCK_APPLICATION_NAME):
        with pytest.raises(SafetyRefusal) as refused:
            run_deploy(settings, target, no_backup_reason="test")
    assert "another pgwarden in-place restore is running" in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert db.scalar("select count(*) from information_schema.tables where table_name = 'items'") == 0


def test_an_in_place_restore_refuses_while_a_deploy_holds_the_lock(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="test").ok
    backup = take_backup(settings, target)
    add_migration(settings, "0002_more", "insert into items values (3);\n")
    assert run_deploy(settings, target, no_backup_reason="test").ok
    settings.deploy.lock_wait = 0.5

    with DeployLock(target, wait_s=1):
        with pytest.raises(SafetyRefusal) as refused:
            restore_backup(settings, target, backup.id, confirm=db.name)
    assert "another pgwarden deploy is running" in str(refused.value)
    assert db.scalar("select count(*) from items") == 3, "the refused restore changed nothing"

    restored = restore_backup(settings, target, backup.id, confirm=db.name)
    assert restored.ok and db.scalar("select count(*) from items") == 2
