"""Every config key and every command is documented, or this fails (sqlite-utils' habit)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pgwarden.cli.main import COMMANDS
from pgwarden.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("reader") is None:
            continue
        name = f"{prefix}{f.name}"
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            keys.extend(_keys(type(default), name + "."))
        else:
            keys.append(name)
    return keys


def test_every_config_key_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [k for k in _keys(Settings) if f"`{k}`" not in text]
    assert not missing, f"document these keys in docs/configuration.md: {missing}"


def test_every_command_is_in_the_readme() -> None:
    text = (ROOT / "README.md").read_text()
    missing = [c.name for c in COMMANDS if f"pgwarden {c.name}" not in text]
    assert not missing, f"mention these commands in README.md: {missing}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    run = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert run in (ROOT / "README.md").read_text()
