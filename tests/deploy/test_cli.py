"""`pgwarden deploy` / `pgwarden verify` on the command line: exit codes, JSON on stdout, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

from pgwarden.pg.connection import DatabaseTarget
from tests.deploy.helpers import add_migration, verified_backup, write_project

INIT = "create table users (id bigserial primary key, email text);\n"


def test_deploy_and_verify_json(cli, db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    env = {"DATABASE_URL": db.url}
    first = cli("deploy", "--no-backup", "--reason", "first deploy", "--format", "json", cwd=tmp_path, env=env)
    assert first.code == 0, first.stderr
    document = json.loads(first.stdout)
    assert document["step"] == "deploy" and document["ok"] and document["applied"] == ["0001_init"]
    assert "deploying to" in first.stderr

    backup = verified_backup(settings, DatabaseTarget.from_url(db.url))
    add_migration(settings, "0002_broken", "alter table nope add column x int;\n")
    failed = cli("deploy", "--backup-id", backup.id, cwd=tmp_path, env=env)
    assert failed.code == 1
    assert f"pgwarden restore --backup-id {backup.id} --confirm {db.name}" in failed.stdout

    verify = cli("verify", "--format", "json", cwd=tmp_path, env=env)
    assert verify.code == 1
    result = json.loads(verify.stdout)
    assert result["step"] == "verify" and not result["ok"]
    assert result["checks"][0]["name"] in ("every migration applied", "no failed migration")
    markdown = cli("verify", "--format", "markdown", cwd=tmp_path, env=env)
    assert markdown.stdout.startswith("### pgwarden verify: failed")


def test_refusals_exit_4_and_usage_errors_exit_2(cli, db, tmp_path: Path) -> None:
    write_project(tmp_path, {"0001_init": INIT})
    env = {"DATABASE_URL": db.url}
    refused = cli("deploy", cwd=tmp_path, env=env)
    assert refused.code == 4 and "no verified backup" in refused.stderr
    assert cli("deploy", "--no-backup", cwd=tmp_path, env=env).code == 2
    assert cli("deploy", "--backup-id", "x", "--no-backup", "--reason", "r", cwd=tmp_path, env=env).code == 2
    (tmp_path / "pgwarden.yml").write_text((tmp_path / "pgwarden.yml").read_text()
                                           + "  hooks:\n    post: php artisan migrate:reset\n")
    forbidden = cli("deploy", "--no-backup", "--reason", "r", "--environment", "production", cwd=tmp_path, env=env)
    assert forbidden.code == 4 and "migrate:reset" in forbidden.stderr
    assert db.scalar("select to_regclass('users')") is None


def test_help_has_an_example(cli) -> None:
    for command in ("deploy", "verify"):
        result = cli(command, "--help")
        assert result.code == 0 and "example:" in result.stdout and f"pgwarden {command}" in result.stdout


def test_no_password_in_cli_output(cli_subprocess, secret_db, tmp_path: Path) -> None:
    write_project(tmp_path, {"0001_init": INIT, "0002_broken": "alter table nope add column x int;\n"})
    password = secret_db.url.split(":")[2].split("@")[0]
    result = cli_subprocess("deploy", "--no-backup", "--reason", "test", "--format", "json",
                            cwd=tmp_path, env={"DATABASE_URL": secret_db.url})
    assert result.code == 1
    assert password not in result.output
    assert password not in (tmp_path / "audit.jsonl").read_text()
    verify = cli_subprocess("verify", cwd=tmp_path, env={"DATABASE_URL": secret_db.url})
    assert verify.code == 1 and password not in verify.output
