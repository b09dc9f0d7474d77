"""The CLI surface: every command has help with an example; user mistakes are exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pgwarden.cli.main import COMMANDS
from tests.fix_cli import CliResult

Cli = Callable[..., CliResult]
CONTRACT_COMMANDS = ["plan", "backup", "deploy", "verify", "restore", "backups", "status", "drill", "demo"]


def test_every_contract_command_is_wired() -> None:
    names = [c.name for c in COMMANDS]
    for name in CONTRACT_COMMANDS:
        assert name in names


@pytest.mark.parametrize("name", CONTRACT_COMMANDS)
def test_help_has_an_example(cli: Cli, name: str) -> None:
    result = cli(name, "--help")
    assert result.code == 0
    assert "example:" in result.stdout
    assert f"pgwarden {name}" in result.stdout.split("example:")[1]
    assert "--format" in result.stdout


def test_top_level_help_lists_commands(cli: Cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for name in CONTRACT_COMMANDS:
        assert name in result.stdout


def test_no_command_prints_help_and_exits_2(cli: Cli) -> None:
    result = cli()
    assert result.code == 2
    assert "COMMAND" in result.stderr


def test_unknown_flag_is_exit_2_naming_it(cli: Cli) -> None:
    result = cli("status", "--frobnicate")
    assert result.code == 2
    assert "--frobnicate" in result.stderr


def test_bad_format_value_is_exit_2(cli: Cli) -> None:
    result = cli("status", "--format", "yaml")
    assert result.code == 2
    assert "yaml" in result.stderr


def test_missing_config_file_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("status", "--config", str(tmp_path / "nope.yml"))
    assert result.code == 2
    assert "nope.yml" in result.stderr and "not found" in result.stderr


def test_bad_config_through_the_cli_is_exit_2_without_traceback(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pgwarden.yml").write_text("deploy:\n  lock_timeout: 5x\n")
    result = cli("status", cwd=tmp_path, env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/db"})
    assert result.code == 2
    assert "pgwarden.yml:2: deploy.lock_timeout" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_database_url_names_the_env_var(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pgwarden.yml").write_text("database_url_env: SHOP_DB\n")
    monkeypatch.delenv("SHOP_DB", raising=False)
    result = cli("status", cwd=tmp_path)
    assert result.code == 2
    assert "SHOP_DB" in result.stderr and "--database-url" in result.stderr


def test_version(cli: Cli) -> None:
    from pgwarden import __version__

    result = cli("--version")
    assert result.code == 0 and __version__ in result.stdout
