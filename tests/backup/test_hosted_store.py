"""A file:// store on a GitHub-hosted runner is refused (issue 11, item 9).

The runner's disk is deleted when the job ends, so a backup kept there is gone before anyone could
restore from it: ``pgwarden backup`` exits 2 naming ``backup.store`` and saying to use S3, before
it dumps anything, unless ``backup.allow_ephemeral_store: true``. Self-hosted runners and S3
stores are not affected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pgwarden.config import load_settings
from pgwarden.pipeline.backup import refuse_ephemeral_store
from tests.fix_cli import CliResult
from tests.fix_pg import TestDatabase
from tests.fix_project import cli_backup, write_sql_project

HOSTED = {"RUNNER_ENVIRONMENT": "github-hosted"}


def test_a_file_store_on_a_hosted_runner_is_refused(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    config = write_sql_project(tmp_path, {"0001_t": "CREATE TABLE t (id int);\n"})
    # No database is reachable here: the refusal comes before any connection or dump.
    done = cli("backup", cwd=tmp_path, env={**HOSTED, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})

    assert done.code == 2, done.output
    assert f"backup.store in {config}" in done.stderr
    assert "'file://./backups'" in done.stderr
    assert "deleted when the job ends" in done.stderr
    assert "s3://" in done.stderr and "backup.allow_ephemeral_store: true" in done.stderr
    assert not (tmp_path / "backups").exists()

    by_option = cli("backup", "--store", "file:///tmp/elsewhere", cwd=tmp_path,
                    env={**HOSTED, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert by_option.code == 2 and "pgwarden backup: --store: 'file:///tmp/elsewhere'" in by_option.stderr


def test_allow_ephemeral_store_lets_the_backup_run(cli: Callable[..., CliResult], db: TestDatabase,
                                                   tmp_path: Path) -> None:
    write_sql_project(tmp_path, {"0001_t": "CREATE TABLE t (id int);\n"}, extra="  allow_ephemeral_store: true\n")
    manifest = cli_backup(cli, tmp_path, db.url, env=HOSTED)
    assert manifest["verified"] is True
    assert (tmp_path / "backups" / manifest["id"]).is_dir()


@pytest.mark.parametrize(("store", "runner"), [
    ("s3://acme-backups/prod", "github-hosted"),
    ("file://./backups", "self-hosted"),
    ("file://./backups", ""),
])
def test_other_stores_and_runners_are_not_refused(tmp_path: Path, store: str, runner: str) -> None:
    write_sql_project(tmp_path, {}, store=store)
    settings = load_settings(tmp_path / "pgwarden.yml")
    refuse_ephemeral_store(settings, store, environ={"RUNNER_ENVIRONMENT": runner})


def test_allow_ephemeral_store_must_be_a_boolean(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    write_sql_project(tmp_path, {}, extra="  allow_ephemeral_store: sometimes\n")
    done = cli("backup", cwd=tmp_path, env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert done.code == 2
    assert "backup.allow_ephemeral_store" in done.stderr and "sometimes" in done.stderr
