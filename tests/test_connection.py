"""Connections: the URL's password never reaches a message, and a wrong one is exit 1."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.redact import redact, register_secret
from tests.fix_cli import CliResult
from tests.fix_pg import TestDatabase


def test_target_parses_url_and_displays_without_password() -> None:
    target = DatabaseTarget.from_url("postgresql://app:S3cr3t-Passw0rd@db.example.com:6543/shop?sslmode=require")
    assert target.dbname == "shop"
    assert target.display() == "app@db.example.com:6543/shop"
    assert "S3cr3t" not in target.child_dbname_arg()
    assert "sslmode=require" in target.child_dbname_arg()
    env = target.child_env({})
    assert env["PGPASSWORD"] == "S3cr3t-Passw0rd"
    assert env["PGAPPNAME"] == "pgwarden"


def test_url_without_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="names no database"):
        DatabaseTarget.from_url("postgresql://app@localhost:5432")


def test_redaction_covers_registered_secrets_and_any_url_password() -> None:
    register_secret("hunter2-and-more")
    text = "failed for postgresql://bob:hunter2-and-more@h/db and password=other-secret x"
    out = redact(text)
    assert "hunter2" not in out and "other-secret" not in out
    assert "postgresql://bob:********@h/db" in out
    assert redact("postgres://u:unregistered@h/d") == "postgres://u:********@h/d"


def test_connect_sets_application_name(db: TestDatabase) -> None:
    with connect(DatabaseTarget.from_url(db.url)) as conn:
        assert conn.execute("show application_name").fetchone() == ("pgwarden",)


def test_wrong_password_fails_without_leaking_it(secret_db: TestDatabase) -> None:
    good = DatabaseTarget.from_url(secret_db.url)
    bad_password = "Wr0ng-" + (good.password or "")[::-1]
    bad = DatabaseTarget({**good.params, "password": bad_password})
    with pytest.raises(OperationFailed) as info:
        connect(DatabaseTarget.from_url(bad.url()))
    assert info.value.exit_code == 1
    assert "password authentication failed" in str(info.value)
    assert bad_password not in str(info.value)


def test_cli_wrong_password_is_exit_1_and_secret_free(
    secret_db: TestDatabase, cli_subprocess: Callable[..., CliResult]
) -> None:
    good = DatabaseTarget.from_url(secret_db.url)
    bad_password = "Wr0ng-" + (good.password or "x")[::-1]
    url = DatabaseTarget({**good.params, "password": bad_password}).url()
    result = cli_subprocess("status", env={"DATABASE_URL": url})
    assert result.code == 1, result.output
    assert "password authentication failed" in result.stderr
    assert bad_password not in result.output
