"""A failed deploy's JSON says, in the tool's own words, which migration the history holds as failed and what to run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.deploy.helpers import add_migration, write_project

INIT = "create table users (id bigserial primary key, email text);\n"


def test_failed_deploy_names_the_failed_migration_and_the_tools_next_step(cli, db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    env = {"DATABASE_URL": db.url}
    assert cli("deploy", "--no-backup", "--reason", "first", cwd=tmp_path, env=env).code == 0
    add_migration(settings, "0002_broken", "alter table nope add column x int;\n")

    failed = cli("deploy", "--no-backup", "--reason", "second", "--format", "json", cwd=tmp_path, env=env)

    assert failed.code == 1, failed.stderr
    details = json.loads(failed.stdout)
    assert details["failed_in_history"] == ["0002_broken"]
    assert "pgwarden resolve 0002_broken --rolled-back" in details["resolve_hint"]
