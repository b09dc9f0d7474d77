"""Every rule has a doc page with a problem and a safe alternative per tool, and every page a rule."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from pgwarden.pipeline.plan import EDITED_AFTER_APPLY, FAILED_MIGRATION, SQL_UNAVAILABLE
from pgwarden.records import Category
from pgwarden.risk.engine import IGNORE_WITHOUT_REASON, SYNTAX_ERROR
from pgwarden.risk.rules import RULES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"
# Findings raised by the engine and by the plan pipeline (tool history), not by a rule module.
ENGINE_RULES = {SYNTAX_ERROR, IGNORE_WITHOUT_REASON, FAILED_MIGRATION, EDITED_AFTER_APPLY, SQL_UNAVAILABLE}
RULE_IDS = [rule.ID for rule in RULES]


def test_every_rule_has_a_page_and_every_page_a_rule() -> None:
    pages = {p.stem for p in DOCS.glob("*.md")}
    assert pages == set(RULE_IDS) | ENGINE_RULES


@pytest.mark.parametrize("rule_id", sorted(set(RULE_IDS) | ENGINE_RULES))
def test_page_has_problem_and_safe_alternative_for_each_tool(rule_id: str) -> None:
    text = (DOCS / f"{rule_id}.md").read_text(encoding="utf-8")
    for heading in ("## Problem", "## Safe alternative", "### Plain SQL", "### Prisma", "### Laravel",
                    "### Alembic"):
        assert heading in text, f"{rule_id}.md lacks {heading}"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_module_shape(rule: object) -> None:
    module_name = rule.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    assert rule.ID == module_name.replace("_", "-")  # type: ignore[attr-defined]
    assert isinstance(rule.CATEGORY, Category)  # type: ignore[attr-defined]
    assert callable(rule.check) and rule.__doc__  # type: ignore[attr-defined]
    assert importlib.import_module(f"tests.risk.rules.test_{module_name}").ID == rule.ID  # type: ignore[attr-defined]


def test_ids_are_unique() -> None:
    assert len(RULE_IDS) == len(set(RULE_IDS))
