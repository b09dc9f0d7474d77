"""Every rule is a module in risk/rules with a page, a test and a snapshot; every page is a rule."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pglast.ast
import pglast.enums
import pytest

from pgwarden.records import Category
from pgwarden.risk.rule import Rule
from pgwarden.risk.rules import ALL_RULES, OTHER_RULES, RULES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "rules"
RULES_DIR = ROOT / "src" / "pgwarden" / "risk" / "rules"
SNAPSHOTS = Path(__file__).parent / "snapshots"
RULE_IDS = [rule.ID for rule in ALL_RULES]


def _module_name(rule: Rule) -> str:
    return str(rule.__name__).rsplit(".", 1)[-1]  # type: ignore[attr-defined]


def test_every_rule_has_a_page_and_every_page_a_rule() -> None:
    pages = {p.stem for p in DOCS.glob("*.md")}
    assert pages == set(RULE_IDS)


def test_every_rule_module_is_registered() -> None:
    # A module in risk/rules that is not in ALL_RULES would be a rule nobody runs or documents.
    files = {p.stem for p in RULES_DIR.glob("*.py") if p.stem != "__init__"}
    assert files == {_module_name(rule) for rule in ALL_RULES}


def test_findings_are_built_only_by_rule_modules_and_the_engine() -> None:
    # So a new finding cannot appear with an id that has no module, page or tests: the engine
    # builds findings from a statement rule's Hit (rule=rule.ID), every other one is built in
    # its own rule module. records.py may rebuild findings from JSON.
    allowed = {RULES_DIR, RULES_DIR.parent / "engine.py", ROOT / "src" / "pgwarden" / "records.py"}
    builders = set()
    for path in (ROOT / "src" / "pgwarden").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding":
                builders.add(path.parent if path.parent == RULES_DIR else path)
    assert builders <= allowed, sorted(str(b.relative_to(ROOT)) for b in builders - allowed)


@pytest.mark.parametrize("rule_id", sorted(RULE_IDS))
def test_page_has_problem_and_safe_alternative_for_each_tool(rule_id: str) -> None:
    text = (DOCS / f"{rule_id}.md").read_text(encoding="utf-8")
    for heading in ("## Problem", "## Safe alternative", "### Plain SQL", "### Prisma", "### Laravel",
                    "### Alembic"):
        assert heading in text, f"{rule_id}.md lacks {heading}"


@pytest.mark.parametrize("rule", ALL_RULES, ids=RULE_IDS)
def test_rule_module_shape(rule: Rule) -> None:
    module_name = _module_name(rule)
    assert rule.ID == module_name.replace("_", "-")
    assert isinstance(rule.CATEGORY, Category)
    assert rule.SUGGESTION
    assert rule.__doc__ and rule.__doc__.startswith(f"{rule.ID}: ")
    assert importlib.import_module(f"tests.risk.rules.test_{module_name}").ID == rule.ID
    assert (SNAPSHOTS / f"{rule.ID}.txt").is_file()


@pytest.mark.parametrize("rule", RULES, ids=[rule.ID for rule in RULES])
def test_statement_rules_say_what_they_inspect(rule: object) -> None:
    assert callable(rule.check)  # type: ignore[attr-defined]
    nodes = rule.NODES  # type: ignore[attr-defined]
    assert nodes is None or (isinstance(nodes, tuple) and all(isinstance(n, type) for n in nodes))
    subcommands = getattr(rule, "SUBCOMMANDS", None)  # optional: the ALTER TABLE subcommands it looks at
    if subcommands is not None:
        assert nodes is not None and pglast.ast.AlterTableStmt in nodes
        assert isinstance(subcommands, frozenset) and subcommands
        assert all(isinstance(s, pglast.enums.AlterTableType) for s in subcommands)


def test_other_rules_are_not_run_per_statement() -> None:
    assert not set(OTHER_RULES) & set(RULES)


def test_ids_are_unique() -> None:
    assert len(RULE_IDS) == len(set(RULE_IDS))
