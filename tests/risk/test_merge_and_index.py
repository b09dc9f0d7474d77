"""False alarms 3 and 4 of issue 15: several findings on one statement said once; DROP INDEX sized by its table."""

from __future__ import annotations

from typing import Any

from pgwarden.config import IgnoreEntry, RiskConfig
from pgwarden.records import Migration, PlanReport
from pgwarden.report.annotations import annotation_lines
from pgwarden.report.sarif import render_sarif
from pgwarden.risk.merge import rules_of
from tests.risk.helpers import run

# One Prisma-style ALTER that trips several rules at once.
MANY = 'ALTER TABLE "User" ALTER COLUMN "age" TYPE bigint, DROP COLUMN "legacy";\n'


def test_several_findings_on_one_statement_come_out_as_one_at_the_highest_severity() -> None:
    apart = run(MANY, merge=False)
    assert len(apart) >= 3
    [merged] = run(MANY)
    assert merged.severity == max(f.severity for f in apart)
    assert sorted(rules_of(merged)) == sorted(f.rule for f in apart)
    assert merged.rule == next(f.rule for f in apart if f.severity == merged.severity)
    for other in apart:
        if other.rule != merged.rule:
            assert f"{other.rule} ({other.severity.value}): {other.message.rstrip('.')}" in merged.message
            assert other.suggestion in merged.suggestion
    assert merged.context["also"] == ", ".join(r for r in rules_of(merged)[1:])
    assert merged.table == "User"


def test_each_statement_keeps_its_own_finding() -> None:
    findings = run(MANY + 'DROP TABLE "Legacy";\n')
    assert [f.line for f in findings] == [1, 2]
    assert findings[1].rule == "drop-table" and "merged" not in findings[1].context


def _review_set(sql: str, ignore: list[IgnoreEntry]) -> Any:
    from pgwarden.risk.engine import review_set

    return review_set([Migration("m1", "m1.sql", sql=sql)], risk=RiskConfig(ignore=ignore))


def test_a_reasoned_ignore_of_the_leading_rule_leaves_the_others_merged() -> None:
    [merged] = run(MANY)
    lead = merged.rule
    result = _review_set(MANY, [IgnoreEntry(rule=lead, reason="reviewed: table is tiny")])
    assert [f.rule for f in result.waived] == [lead]
    [rest] = result.findings
    assert lead not in rules_of(rest)
    assert sorted(rules_of(rest)) == sorted(r for r in rules_of(merged) if r != lead)


def test_an_inline_directive_of_a_folded_rule_still_waives_it() -> None:
    [merged] = run(MANY)
    folded = rules_of(merged)[-1]
    sql = f"-- pgwarden:ignore {folded} the old code path is gone\n" + MANY
    result = _review_set(sql, [])
    assert [f.rule for f in result.waived] == [folded]
    [rest] = result.findings
    assert folded not in rules_of(rest) and rest.rule == merged.rule


def test_a_bare_ignore_waives_nothing() -> None:
    result = _review_set(MANY, [IgnoreEntry(rule="drop-column")])
    assert "drop-column" in rules_of(result.findings[0]) and not result.waived


def test_renderers_name_every_merged_rule() -> None:
    findings = run(MANY)
    report = PlanReport(migrations=[Migration("m1", "migrations/m1.sql", sql=MANY)], findings=findings)
    [line] = annotation_lines(report)
    sarif = render_sarif(report)
    [result] = sarif["runs"][0]["results"]
    for rule in rules_of(findings[0])[1:]:
        assert rule in line
        assert rule in result["message"]["text"]
        assert rule in result["properties"]["context"]["also"]
