"""The fast parse path must build exactly the trees pglast's checked path builds.

``pgwarden.risk.trusted`` skips pglast's per-attribute Python check while parsing (80% of a
static review's time). That is only sound while pglast's C builder hands over values of the
right type; a pglast upgrade could change that. This compares both paths, field by field and
type by type, on every SQL snippet the rule tests use, the demo shop and the corpus.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from pglast import parser

import tests.risk.rules as rule_tests
from pgwarden.risk.trusted import ENABLED, tree_difference, trusted_nodes

ROOT = Path(__file__).resolve().parents[2]


def _snippets() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for info in pkgutil.iter_modules(rule_tests.__path__):
        module = importlib.import_module(f"tests.risk.rules.{info.name}")
        for kind in ("OK", "ERR"):
            for index, case in enumerate(getattr(module, kind, [])):
                sql = "\n".join(case) if isinstance(case, tuple) else case
                found.append((f"{info.name}.{kind}[{index}]", sql))
    for path in sorted([*(ROOT / "src/pgwarden/examples").rglob("*.sql"), *(ROOT / "tests").rglob("*.sql")]):
        found.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return found


SNIPPETS = _snippets()


def test_there_is_enough_sql_to_compare() -> None:
    assert len(SNIPPETS) > 100


@pytest.mark.skipif(not ENABLED, reason="the trusted path is off for this pglast version (checked path only)")
def test_trusted_and_checked_parses_are_identical() -> None:
    compared = 0
    for name, sql in SNIPPETS:
        try:
            checked = parser.parse_sql(sql)
        except parser.ParseError:
            with pytest.raises(parser.ParseError), trusted_nodes():
                parser.parse_sql(sql)
            continue
        with trusted_nodes():
            trusted = parser.parse_sql(sql)
        assert tree_difference(checked, trusted) is None, f"{name}: {tree_difference(checked, trusted)}"
        compared += 1
    assert compared > 100


def test_tree_difference_sees_a_changed_value() -> None:
    a = parser.parse_sql("alter table t add column c int default 1")
    b = parser.parse_sql("alter table t add column c int default 2")
    assert tree_difference(a, b) is not None
    assert tree_difference(a, parser.parse_sql("alter table t add column c int default 1")) is None


def test_the_check_is_back_after_the_block() -> None:
    from pglast import ast

    with trusted_nodes():
        pass
    node = ast.ColumnRef()
    with pytest.raises(ValueError):
        node.fields = 42  # the checked setter refuses a non-sequence


def test_the_parser_sees_pglast_enums_again_after_the_block() -> None:
    import pglast

    with trusted_nodes():
        with trusted_nodes():  # reentrant: the inner block's end restores nothing yet
            pass
        assert parser.enums is not pglast.enums  # type: ignore[attr-defined]
    assert parser.enums is pglast.enums  # type: ignore[attr-defined]


def test_the_member_lookup_answers_as_the_enum_does() -> None:
    """Inside the block an enum field is a dict lookup: the very member objects, and for a value the
    enum lacks the enum's own answer (ValueError), never a silent default."""
    from pglast import enums

    from pgwarden.risk.trusted import _MEMBER_LOOKUP

    lookup = _MEMBER_LOOKUP.AlterTableType
    for member in enums.AlterTableType:
        assert lookup(member.value) is member
    assert _MEMBER_LOOKUP.PartitionStrategy("r") is enums.PartitionStrategy("r")  # a char-valued enum
    with pytest.raises(ValueError):
        enums.AlterTableType(9999)
    with pytest.raises(ValueError):
        lookup(9999)
    assert _MEMBER_LOOKUP.ObjectType is not enums.ObjectType  # a lookup, built on first use
    assert _MEMBER_LOOKUP.ObjectType is _MEMBER_LOOKUP.ObjectType


def test_walk_reads_only_the_slots_that_can_hold_nodes_and_still_finds_every_node() -> None:
    """sqlast.walk skips the slots pglast declares as names, flags and locations: over the corpus it
    meets exactly the nodes a walk of every slot meets, in the same order."""
    from pglast import ast

    from pgwarden.risk.sqlast import child_slots, walk
    from tests.corpus.generate import cases

    def every_slot(node: object) -> list[object]:
        found, stack = [], [node]
        while stack:
            current = stack.pop()
            if isinstance(current, (list, tuple)):
                stack.extend(current)
            elif isinstance(current, ast.Node):
                found.append(current)
                stack.extend(v for v in (getattr(current, a, None) for a in current.__slots__)
                             if isinstance(v, (ast.Node, list, tuple)))
        return found

    trees = [raw.stmt for case in cases() if case.migration.sql for raw in parser.parse_sql(case.migration.sql)]
    assert len(trees) > 1000
    for tree in trees:
        assert list(walk(tree)) == every_slot(tree)
    assert len(child_slots(ast.RangeVar)) < len(ast.RangeVar.__slots__)  # it does skip slots
