"""tools/new_rule.py writes a rule, test and doc that work together once registered."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from pgwarden.risk.context import NoFacts
from pgwarden.risk.parse import parse_sql
from pgwarden.risk.rule import RuleContext, Statement
from pgwarden.risk.state import SetState

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaffolded_rule_fires_and_its_files_agree(tmp_path: Path) -> None:
    tool = _load(ROOT / "tools" / "new_rule.py", "new_rule")
    paths = tool.scaffold("ban-widgets", "other", "AlterTableStmt", "Widgets are banned.",
                          "ALTER TABLE users ADD COLUMN widget int;", root=tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == [
        "docs/rules/ban-widgets.md", "src/pgwarden/risk/rules/ban_widgets.py", "tests/risk/rules/test_ban_widgets.py"]
    rule = _load(paths[0], "ban_widgets")
    assert rule.ID == "ban-widgets"
    [parsed] = parse_sql("ALTER TABLE users ADD COLUMN widget int;")
    ctx = RuleContext(SetState(), NoFacts())
    hits = list(rule.check(Statement(parsed.node, parsed.text, 1, "m", "m.sql"), ctx))
    assert [h.message for h in hits] == ["Widgets are banned."]
    assert "## Safe alternative" in paths[2].read_text()
    with pytest.raises(SystemExit, match="refusing to overwrite"):
        tool.scaffold("ban-widgets", "other", "AlterTableStmt", "x", "y", root=tmp_path)
    with pytest.raises(SystemExit, match="kebab-case"):
        tool.scaffold("Ban_Widgets", "other", "AlterTableStmt", "x", "y", root=tmp_path)
