"""Shared helpers for rule tests: review a snippet, assert a rule fires or not, snapshot its text.

Snapshots live in tests/risk/snapshots/<rule-id>.txt; regenerate them after a deliberate
wording change with ``PGWARDEN_UPDATE_SNAPSHOTS=1 pytest tests/risk``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgwarden.records import Finding, Migration, MigrationStatus
from pgwarden.risk.engine import review

SNAPSHOTS = Path(__file__).parent / "snapshots"


def run(*sqls: str, conn: Any = None, **kwargs: Any) -> list[Finding]:
    """Review each SQL text as one migration of a set, in order."""
    migrations = [Migration(name=f"m{i + 1}", path=f"migrations/m{i + 1}.sql", sql=sql) for i, sql in enumerate(sqls)]
    return review(migrations, conn=conn, **kwargs)


def of_rule(rule: str, *sqls: str, conn: Any = None) -> list[Finding]:
    """The rule's own findings, not merged with other rules' on the same statement."""
    return [f for f in run(*sqls, conn=conn, merge=False) if f.rule == rule]


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
    cases = []
    for example in examples:
        sqls = example if isinstance(example, tuple) else (example,)
        cases.append((" /// ".join(s.strip() for s in sqls), of_rule(rule, *sqls)))
    _compare_snapshot(rule, cases)


def _compare_snapshot(rule: str, cases: list[tuple[str, list[Finding]]]) -> None:
    text = "".join(f"### {title}\n" + "".join(render(f) for f in findings) for title, findings in cases)
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


def case_tests(rule: str, findings_of: Callable[[Any], list[Finding]], ok: dict[str, Any],
               err: dict[str, Any]) -> Any:
    """Like :func:`rule_tests`, for a rule about something other than SQL (the tool's history).

    ``ok`` and ``err`` name their cases (the name heads the case in the snapshot);
    ``findings_of(case)`` runs pgwarden's real path on one case and returns every finding.
    """
    import pytest

    def of_this_rule(case: Any) -> list[Finding]:
        return [f for f in findings_of(case) if f.rule == rule]

    @pytest.mark.parametrize("name", list(ok))
    def test_ok(name: str) -> None:
        hits = of_this_rule(ok[name])
        assert not hits, f"{rule} fired on {name}: {[h.message for h in hits]}"

    @pytest.mark.parametrize("name", list(err))
    def test_err(name: str) -> None:
        assert of_this_rule(err[name]), f"{rule} did not fire on {name}"

    def test_snapshot() -> None:
        _compare_snapshot(rule, [(name, of_this_rule(case)) for name, case in err.items()])

    return test_ok, test_err, test_snapshot


@dataclass
class HistoryTool:
    """A migration tool whose history is given: what ``plan`` asks a tool, without a database."""

    name: str
    listed: list[Migration]
    failed_names: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)

    def migrations(self, conn: Any) -> list[Migration]:
        return list(self.listed)

    def pending(self, conn: Any) -> list[Migration]:
        return [m for m in self.listed if m.status in (MigrationStatus.PENDING, MigrationStatus.FAILED)]

    def failed(self, conn: Any) -> list[Migration]:
        return [m for m in self.listed if m.name in self.failed_names]

    def resolve_hint(self, name: str) -> str:
        return f"{self.name} resolve {name}"

    def failure_logs(self, conn: Any, name: str) -> str | None:
        return self.logs.get(name)
