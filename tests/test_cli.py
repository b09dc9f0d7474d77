"""The CLI surface: every command has help with an example; user mistakes are exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgwarden.cli import main as cli_main
from pgwarden.cli.main import COMMANDS
from tests.fix_cli import CliResult

Cli = Callable[..., CliResult]
CONTRACT_COMMANDS = ["plan", "backup", "deploy", "verify", "restore", "backups", "status", "drill", "demo"]


def test_every_contract_command_is_wired() -> None:
    names = [c.name for c in COMMANDS]
    for name in CONTRACT_COMMANDS:
        assert name in names


def test_each_listed_command_is_its_module_and_every_command_module_is_listed() -> None:
    """main.COMMANDS names each command's module (imported only when that command runs)."""
    for entry in COMMANDS:
        assert entry.load().name == entry.name
    modules = {f"pgwarden.cli.{p.stem}" for p in Path(cli_main.__file__).parent.glob("*.py")
               if "\nCOMMAND = Command(" in p.read_text(encoding="utf-8")}
    assert modules == {entry.module for entry in COMMANDS}


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


@pytest.mark.parametrize("before", ["--help", "-h", "--he"])
def test_top_level_help_before_a_command_still_lists_every_command(cli: Cli, before: str) -> None:
    """A command line starting with the command builds only that command's parser; one starting with
    the top-level --help (or an abbreviation) must still show the whole list."""
    result = cli(before, "plan")
    assert result.code == 0
    listed = result.stdout.split("positional arguments:")[1]
    for entry in COMMANDS:
        assert f"    {entry.name} " in listed


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


# --- the JSON error contract: under --format json a failure is still one document on stdout -----

SECRET_URL = "postgresql://app:hunter2-secret@127.0.0.1:1/shop"


def _error_document(result: CliResult, step: str | None, kind: str, exit_code: int) -> dict[str, Any]:
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert result.code == exit_code, result.stderr
    assert doc["version"] == 1 and doc["step"] == step and doc["ok"] is False
    assert doc["exit_code"] == exit_code and doc["error"]["kind"] == kind
    assert set(doc["error"]) == {"kind", "message", "hint"}
    assert "hunter2" not in result.stdout + result.stderr
    return doc


def test_a_refusal_under_json_is_one_error_document(cli_subprocess: Cli, sql_project: Path) -> None:
    result = cli_subprocess("deploy", "--format", "json", "--database-url", SECRET_URL, cwd=sql_project)
    doc = _error_document(result, "deploy", "refused", 4)
    assert doc["error"]["message"] == "no verified backup of shop in file://./backups"
    assert doc["error"]["hint"].startswith("run `pgwarden backup` first")
    # The human text is still on stderr, as before.
    assert "pgwarden deploy: no verified backup of shop" in result.stderr and "hint: run" in result.stderr


def test_a_wrong_confirm_under_json_is_one_error_document(cli: Cli, sql_project: Path) -> None:
    result = cli("restore", "--format", "json", "--backup-id", "latest", "--confirm", "other",
                 "--database-url", SECRET_URL, cwd=sql_project)
    doc = _error_document(result, "restore", "refused", 4)
    assert "--confirm 'other' does not match the target database 'shop'" in doc["error"]["message"]
    assert "pass --confirm shop" in doc["error"]["hint"]


def test_a_usage_error_under_json_is_one_error_document(cli: Cli, sql_project: Path) -> None:
    # A mistyped argument that carries a password: redacted, and the document still parses.
    result = cli("status", "--format=json", "--frobnicate", "password=hunter2", cwd=sql_project)
    doc = _error_document(result, "status", "usage", 2)
    assert "unrecognized arguments: --frobnicate password=********" in doc["error"]["message"]
    assert doc["error"]["hint"] is None
    assert "error: unrecognized arguments" in result.stderr

    missing = cli("restore", "--format", "json", "--backup-id", "latest", cwd=sql_project)
    doc = _error_document(missing, "restore", "usage", 2)
    assert "--confirm" in doc["error"]["message"] and "--into" in doc["error"]["message"]

    # An abbreviated --format (argparse accepts it), and a command that does not exist.
    abbreviated = cli("restore", "--form", "json", "--backup-id", "latest", cwd=sql_project)
    _error_document(abbreviated, "restore", "usage", 2)
    unknown = cli("restor", "--format", "json", cwd=sql_project)
    doc = _error_document(unknown, None, "usage", 2)
    assert "invalid choice: 'restor'" in doc["error"]["message"]


def test_a_configuration_error_under_json_is_one_error_document(cli: Cli, tmp_path: Path) -> None:
    result = cli("status", "--format", "json", "--config", str(tmp_path / "nope.yml"))
    doc = _error_document(result, "status", "usage", 2)
    assert "nope.yml" in doc["error"]["message"] and "not found" in doc["error"]["message"]


def test_a_failure_under_json_is_one_error_document(cli: Cli, sql_project: Path) -> None:
    result = cli("status", "--format", "json", "--database-url", SECRET_URL, cwd=sql_project)
    doc = _error_document(result, "status", "failed", 1)
    assert "127.0.0.1" in doc["error"]["message"]


def test_text_format_errors_print_nothing_on_stdout(cli: Cli, sql_project: Path) -> None:
    result = cli("deploy", "--database-url", SECRET_URL, cwd=sql_project)
    assert result.code == 4 and result.stdout == ""
    assert "no verified backup" in result.stderr
