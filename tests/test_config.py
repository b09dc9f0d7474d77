"""pgwarden.yml: every user mistake is exit 2 with file, key, line and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgwarden.config import Settings, check_migrations_path, load_settings, parse_settings
from pgwarden.durations import format_duration, parse_duration, pg_duration
from pgwarden.errors import ConfigError
from tests.fix_pg import TestDatabase


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pgwarden.yml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.exit_code == 2
    return str(info.value)


def test_full_config_from_design_is_accepted(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, """
database_url_env: PROD_DB
migrations: {tool: prisma, path: prisma/migrations, command: npx prisma migrate deploy}
backup:
  store: s3://bucket/prefix
  format: directory
  jobs: 4
  compress: zstd
  retention: {days: 30, keep_last: 5}
  snapshot: {provider: rds, instance: prod-db}
deploy:
  lock_timeout: 5s
  statement_timeout: 15min
  retries: 3
  hooks: {pre: "php artisan down", post: "php artisan up", on_failure: "php artisan up"}
risk:
  fail_on: high
  ignore: [{rule: require-concurrent-index, migration: 20240101_init, reason: empty table}]
verify:
  checks: [{name: users not empty, sql: "select count(*) > 0 from users"}]
  health_urls: [https://example.com/healthz]
restore:
  rto: 30min
"""))
    assert settings.database_url_env == "PROD_DB"
    assert settings.migrations.tool == "prisma"
    assert settings.backup.jobs == 4 and settings.backup.retention.days == 30
    assert settings.backup.snapshot.instance == "prod-db"
    assert settings.deploy.lock_timeout == 5.0 and settings.deploy.statement_timeout == 900.0
    assert settings.deploy.hooks.on_failure == "php artisan up"
    assert settings.risk.ignore[0].reason == "empty table"
    assert settings.verify.checks[0].name == "users not empty"
    assert settings.restore.rto == 1800.0


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings.database_url_env == "DATABASE_URL"
    assert settings.deploy.lock_timeout == 5.0
    assert settings.risk.fail_on == "high"
    assert settings.deploy.protected_environments == ["production", "prod"]


def test_bad_duration_names_file_key_line_and_expectation(tmp_path: Path) -> None:
    message = error_of(tmp_path, "deploy:\n  retries: 2\n  lock_timeout: 5x\n")
    assert "pgwarden.yml:3" in message
    assert "deploy.lock_timeout" in message
    assert "duration" in message and "'5x'" in message


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    message = error_of(tmp_path, "deploy:\n  lock_timout: 5s\n")
    assert "pgwarden.yml:2" in message and "deploy.lock_timout" in message
    assert "did you mean 'lock_timeout'" in message


def test_unknown_top_level_key_lists_known_keys(tmp_path: Path) -> None:
    message = error_of(tmp_path, "zzz: 1\n")
    assert "zzz" in message and "migrations" in message


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("backup:\n  jobs: two\n", "backup.jobs", "whole number"),
        ("backup:\n  jobs: -1\n", "backup.jobs", "whole number"),
        ("migrations: [a, b]\n", "migrations", "mapping"),
        ("migrations:\n  tool: flyway\n", "migrations.tool", "one of sql, prisma, laravel, alembic"),
        ("risk:\n  fail_on: severe\n", "risk.fail_on", "one of info, low, medium, high, critical, never"),
        ("verify:\n  checks:\n    - name: x\n", "verify.checks[0].sql", "SQL query"),
        ("verify:\n  health_urls: http://x\n", "verify.health_urls", "a list"),
        ("deploy:\n  hooks: {pre: [a]}\n", "deploy.hooks.pre", "a string"),
        ("risk:\n  ignore:\n    - reason: x\n", "risk.ignore[0].rule", "id of the rule"),
    ],
)
def test_wrong_types_are_named(tmp_path: Path, text: str, key: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert key in message
    assert expected in message


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "deploy:\n  retries: [1,\n")
    assert "pgwarden.yml:" in message and "not valid YAML" in message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "deploy:\n  retries: 1\n  retries: 2\n")
    assert "deploy.retries" in message and "duplicate" in message


def test_missing_migrations_path_is_named(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "migrations:\n  path: db/nope\n"))
    with pytest.raises(ConfigError) as info:
        check_migrations_path(settings)
    assert "migrations.path" in str(info.value) and "db/nope" in str(info.value)


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "pgwarden.yml"
    path.write_text("migrations: {path: m}\n")
    settings = load_settings(path)
    assert settings.migrations_path == tmp_path / "sub" / "m"


def test_overrides_win_over_the_file_and_do_not_mutate_it() -> None:
    settings = parse_settings("backup: {jobs: 4}\n", "x.yml")
    changed = settings.with_overrides(**{"backup.jobs": 8, "backup.format": None})
    assert changed.backup.jobs == 8
    assert settings.backup.jobs == 4
    assert changed.backup.format == "custom"


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")).deploy.retries == Settings().deploy.retries


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5), ("500ms", 0.5), ("15min", 900), ("2h", 7200), ("30d", 2592000), ("1.5m", 90), (7, 7)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "s", "-1s", "1 fortnight", "9" * 400 + "d", float("inf"), float("nan")])
def test_bad_durations(text: str | float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", ["1ms", "24d", "2147483647ms"])
def test_timeouts_up_to_postgresqls_limit_are_accepted_by_postgresql(db: TestDatabase, value: str) -> None:
    deploy = parse_settings(f"deploy: {{lock_timeout: {value}, statement_timeout: {value}}}\n", "x.yml").deploy
    with db.connect() as conn:
        conn.execute(f"set lock_timeout = '{pg_duration(deploy.lock_timeout)}'")
        conn.execute(f"set statement_timeout = '{pg_duration(deploy.statement_timeout)}'")
        assert conn.execute("show lock_timeout").fetchone() != ("0",)


@pytest.mark.parametrize("value", ["2147483648ms", "25d", "0", "0s", "0.4ms"])
def test_timeouts_postgresql_would_refuse_or_turn_off_are_refused(tmp_path: Path, value: str) -> None:
    message = error_of(tmp_path, f"deploy:\n  lock_timeout: {value}\n")
    assert "pgwarden.yml:2: deploy.lock_timeout: expected a duration such as" in message
    assert "from 1ms to 2147483647ms" in message and f"got '{value}'" in message


def test_unquoted_numbers_and_dates_in_text_fields_are_taken_as_written(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "environment: 012\ndeploy:\n  approvers: [12345, 2024-01-01, 1e3]\n"))
    assert settings.environment == "012"
    assert settings.deploy.approvers == ["12345", "2024-01-01", "1e3"]
    assert "quotes" in error_of(tmp_path, "environment: yes\n")


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "pgwarden.yml"
    path.write_bytes(b"\xef\xbb\xbfdeploy:\n  retries: 1\n")
    assert load_settings(path).deploy.retries == 1


def test_format_duration_reads_well() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(125) == "2min 05s"


NEON_CONFIG = "backup:\n  store: file://./backups\n  snapshot:\n    provider: neon\n    project_id: p-1\n"
NEON_MESSAGE = (
    "backup.snapshot.provider: expected rds or aurora (neon branches are not supported by this "
    "pgwarden version), got 'neon'"
)


def test_neon_snapshot_provider_is_refused_when_the_config_is_read(tmp_path: Path) -> None:
    # Before, only the backup's snapshot step refused it: plan, verify and deploy ran with it.
    message = error_of(tmp_path, NEON_CONFIG)
    assert message == f"{tmp_path / 'pgwarden.yml'}:4: {NEON_MESSAGE}"


def test_neon_snapshot_provider_is_refused_by_every_command(tmp_path: Path, cli) -> None:
    write(tmp_path, NEON_CONFIG)
    (tmp_path / "add.sql").write_text("create table t (id int);\n")
    result = cli("plan", "add.sql", cwd=tmp_path)
    assert result.code == 2, result.output
    assert f"pgwarden.yml:4: {NEON_MESSAGE}" in result.stderr


@pytest.mark.parametrize("key", ["source", "base_dir"])
def test_fields_the_loader_sets_are_not_yaml_keys(tmp_path: Path, key: str) -> None:
    # They have no reader: reading them crashed with a TypeError instead of naming the key.
    message = error_of(tmp_path, f"{key}: elsewhere\n")
    assert f"pgwarden.yml:1: {key}: expected one of the known keys (" in message
    assert "base_dir" not in message.split("(", 1)[1]
