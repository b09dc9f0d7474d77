"""Connections: the URL's password never reaches a message, and a wrong one is exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

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


# --- libpq's environment counts the same for pgwarden and for its children ------------------

_LIBPQ_VARS = ("PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE",
               "PGSSLMODE", "PGPASSFILE")


@pytest.fixture
def clean_libpq_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _LIBPQ_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_password_from_pgpassword_goes_to_children_env_only(clean_libpq_env: pytest.MonkeyPatch) -> None:
    clean_libpq_env.setenv("PGPASSWORD", "Env-Only-Pw-71")
    target = DatabaseTarget.from_url("postgresql://app@db.example.com/shop")
    assert target.password == "Env-Only-Pw-71"
    assert target.child_env({})["PGPASSWORD"] == "Env-Only-Pw-71"
    assert "Env-Only-Pw-71" not in target.child_dbname_arg()
    # a tool that reads only a URL (Prisma's engine) gets it in the URL, which lives in its env
    assert "app:Env-Only-Pw-71@db.example.com" in target.url()
    assert "Env-Only-Pw-71" not in redact("login failed for Env-Only-Pw-71")


def test_url_password_wins_over_pgpassword_as_in_libpq(clean_libpq_env: pytest.MonkeyPatch) -> None:
    clean_libpq_env.setenv("PGPASSWORD", "from-env")
    target = DatabaseTarget.from_url("postgresql://app:from-url@db/shop")
    assert target.child_env()["PGPASSWORD"] == "from-url"


def test_pghost_pgsslmode_pgdatabase_reach_the_child_arguments(clean_libpq_env: pytest.MonkeyPatch) -> None:
    clean_libpq_env.setenv("PGHOST", "db.internal")
    clean_libpq_env.setenv("PGSSLMODE", "verify-full")
    clean_libpq_env.setenv("PGDATABASE", "shop")
    target = DatabaseTarget.from_url("postgresql://app@/")
    assert target.dbname == "shop"
    assert target.display() == "app@db.internal:5432/shop"
    child = conninfo_to_dict(target.child_dbname_arg())
    assert (child["host"], child["sslmode"], child["dbname"]) == ("db.internal", "verify-full", "shop")
    assert target.url().startswith("postgresql://app@db.internal/shop?") and "sslmode=verify-full" in target.url()


def test_no_database_anywhere_is_a_config_error(clean_libpq_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="set PGDATABASE"):
        DatabaseTarget.from_url("postgresql://app@db.example.com")


def test_pgservice_values_and_password_are_handed_to_children(
    clean_libpq_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = tmp_path / "pg_service.conf"
    services.write_text("[shop]\nhost=db.internal\nport=6543\ndbname=shop\nuser=svc\npassword=Svc-Pw-9\n")
    clean_libpq_env.setenv("PGSERVICEFILE", str(services))
    clean_libpq_env.setenv("PGSERVICE", "shop")
    clean_libpq_env.setenv("PGPASSWORD", "loses-to-the-service-file")
    target = DatabaseTarget.from_url("postgresql://")
    assert target.display() == "svc@db.internal:6543/shop"
    env = target.child_env()
    # the service file outranks PGPASSWORD in libpq; the child gets what pgwarden's libpq uses
    assert env["PGPASSWORD"] == "Svc-Pw-9" and "PGSERVICE" not in env
    assert conninfo_to_dict(target.child_dbname_arg()) == {
        "host": "db.internal", "port": "6543", "dbname": "shop", "user": "svc"}
