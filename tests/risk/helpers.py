"""Shared helpers for rule tests: review a snippet, assert a rule fires or not, snapshot its text.

Snapshots live in tests/risk/snapshots/<rule-id>.txt; regenerate them after a deliberate
wording change with ``PGWARDEN_UPDATE_SNAPSHOTS=1 pytest tests/risk``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pgwarden.records import Finding, Migration
from pgwarden.risk.engine import review

SNAPSHOTS = Path(__file__).parent / "snapshots"


def run(*sqls: str, conn: Any = None, **kwargs: Any) -> list[Finding]:
    """Review each SQL text as one migration of a set, in order."""
    migrations = [Migration(name=f"m{i + 1}", path=f"migrations/m{i + 1}.sql", sql=sql) for i, sql in enumerate(sqls)]
    return review(migrations, conn=conn, **kwargs)


def of_rule(rule: str, *sqls: str, conn: Any = None) -> list[Finding]:
    return [f for f in run(*sqls, conn=conn) if f.rule == rule]


def assert_clean(rule: str, sql: str | tuple[str, ...]) -> None:
    sqls = sql if isinstance(sql, tuple) else (sql,)
    hits = of_rule(rule, *sqls)
    assert not hits, f"{rule} fired on safe SQL:\n{sqls}\n-> {[h.message for h in hits]}"


def assert_flags(rule: str, sql: str | tuple[str, ...]) -> list[Finding]:
    sqls = sql if isinstance(sql, tuple) else (sql,)
    hits = of_rule(rule, *sqls)
    assert hits, f"{rule} did not fire on:\n{sqls}"
    return hits


def render(finding: Finding) -> str:
    return (
        f"[{finding.severity.value}] {finding.rule} ({finding.category.value}) "
        f"{finding.migration}:{finding.line} table={finding.table}\n"
        f"  {finding.message}\n  -> {finding.suggestion}\n"
    )


def check_snapshot(rule: str, examples: list[str | tuple[str, ...]]) -> None:
    """The rendered findings of every ERR example must equal the stored snapshot."""
    parts = []
    for example in examples:
        sqls = example if isinstance(example, tuple) else (example,)
        parts.append("### " + " /// ".join(s.strip() for s in sqls) + "\n")
        parts.extend(render(f) for f in of_rule(rule, *sqls))
    text = "".join(parts)
    path = SNAPSHOTS / f"{rule}.txt"
    if os.environ.get("PGWARDEN_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; create it with PGWARDEN_UPDATE_SNAPSHOTS=1"
    assert path.read_text(encoding="utf-8") == text, (
        f"rendered findings of {rule} changed; review and regenerate with PGWARDEN_UPDATE_SNAPSHOTS=1"
    )


def rule_tests(rule: str, ok: list[str | tuple[str, ...]], err: list[str | tuple[str, ...]]) -> Any:
    """Build the test functions of one rule's ok/err pairs (used at module level of each test file)."""
    import pytest

    @pytest.mark.parametrize("sql", ok)
    def test_ok(sql: str | tuple[str, ...]) -> None:
        assert_clean(rule, sql)

    @pytest.mark.parametrize("sql", err)
    def test_err(sql: str | tuple[str, ...]) -> None:
        assert_flags(rule, sql)

    def test_snapshot() -> None:
        check_snapshot(rule, err)

    return test_ok, test_err, test_snapshot
