"""docs/cli.md is generated from the argparse parser; this fails when it is not current (sqlite-utils' habit)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from pgwarden.cli.main import COMMANDS
from pgwarden.cli.report import SUBCOMMANDS

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "tools" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_current() -> None:
    tool = _tool()
    page = ROOT / "docs" / "cli.md"
    assert page.is_file(), f"docs/cli.md is missing: run {tool.REGENERATE}"
    assert page.read_text(encoding="utf-8") == tool.render(), (
        f"docs/cli.md is not current with the parser: run {tool.REGENERATE}"
    )


def test_every_command_and_option_is_on_the_page() -> None:
    text = _tool().render()
    for command in COMMANDS:
        assert f"## pgwarden {command.name}\n" in text
    for sub in SUBCOMMANDS:
        assert f"### pgwarden report {sub.name}\n" in text
    for option in ("`--fail-on SEVERITY\\|never`", "`--backup-id ID\\|latest`", "`--exit-code N`"):
        assert option in text
    assert "pgwarden restore --backup-id ID|latest (--confirm DBNAME | --into NEWDB) [options]" in text


def test_the_readme_links_the_reference() -> None:
    assert "(docs/cli.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
