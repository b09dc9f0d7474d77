"""False alarms 3 and 4 of issue 15: several findings on one statement said once; DROP INDEX sized by its table."""

from __future__ import annotations

from typing import Any

import pytest

from pgwarden.config import IgnoreEntry, RiskConfig
from pgwarden.names import QualifiedName
from pgwarden.records import Migration, PlanReport
from pgwarden.report.annotations import annotation_lines
from pgwarden.report.sarif import render_sarif
from pgwarden.risk import context as context_module
from pgwarden.risk.context import LiveFacts
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


# --- DROP INDEX carries its table (false alarm 4) ----------------------------------------------

DROP_RULE = "require-concurrent-index-drop"


def _drops(*sqls: str, conn: Any = None) -> list[Any]:
    return [f for f in run(*sqls, conn=conn, merge=False) if f.rule == DROP_RULE]


def test_static_drop_index_of_an_unknown_table_stays_medium() -> None:
    [finding] = _drops("DROP INDEX users_email;")
    assert finding.severity.value == "medium" and finding.table is None


def test_prisma_index_of_a_table_the_set_drops_gives_no_finding() -> None:
    assert _drops('DROP INDEX "Post_authorId_idx";\nDROP TABLE "Post";') == []
    assert _drops('DROP INDEX "Post_authorId_idx";', 'DROP TABLE "Post";') == []
    # Another table's index, or a name Prisma does not write, is still reported.
    assert len(_drops('DROP INDEX "Comment_postId_idx";\nDROP TABLE "Post";')) == 1
    assert len(_drops('DROP INDEX post_lookup;\nDROP TABLE "Post";')) == 1


def test_index_created_in_the_set_gives_no_finding() -> None:
    assert _drops("CREATE INDEX CONCURRENTLY i ON users (a);", "DROP INDEX i;") == []


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        connection.execute("create table big (id int primary key, a int, pad text)")
        connection.execute("insert into big select g, g, repeat('x', 100) from generate_series(1, 20000) g")
        connection.execute("create index big_a on big (a)")
        connection.execute("create table empty (id int primary key, a int)")
        connection.execute("create index empty_a on empty (a)")
        connection.execute('create schema app; create table app."Order" (id int); create index "Order_id_idx" '
                           'on app."Order" (id); insert into app."Order" select generate_series(1, 20000)')
        connection.execute("analyze")
        yield connection


def test_live_drop_index_is_sized_by_its_table(conn: Any) -> None:
    [big] = _drops("DROP INDEX big_a;", conn=conn)
    assert big.table == "big" and big.severity.value == "medium" and big.context["rows"] == 20000
    assert "on big" in big.message and "20,000 rows" in big.message
    [empty] = _drops("DROP INDEX empty_a;", conn=conn)
    assert empty.table == "empty" and empty.severity.value == "low" and "empty" in empty.message
    [other] = _drops('DROP INDEX app."Order_id_idx";', conn=conn)
    assert other.table == "app.Order" and other.context["rows"] == 20000


def test_live_drop_index_of_a_table_the_set_drops_gives_no_finding(conn: Any) -> None:
    assert _drops("DROP INDEX big_a;\nDROP TABLE big;", conn=conn) == []
    assert _drops("DROP INDEX big_a;", "DROP TABLE big;", conn=conn) == []
    assert len(_drops("DROP INDEX big_a;\nDROP TABLE empty;", conn=conn)) == 1


def test_live_drop_index_that_is_missing_or_times_out_is_judged_statically(conn: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    [missing] = _drops("DROP INDEX IF EXISTS not_there;", conn=conn)
    assert missing.severity.value == "medium" and missing.table is None
    facts = LiveFacts(conn, 0.2)
    assert facts.index_table(QualifiedName(None, "big_a")) == QualifiedName(None, "big")
    # A catalog that answers too slowly: the lookup gives up at statement_timeout, the plan goes on.
    monkeypatch.setattr(context_module, "_INDEX_TABLE_SQL", "select 'public', 'big' from pg_sleep(1) where %s <> ''")
    slow = LiveFacts(conn, 0.2)
    assert slow.index_table(QualifiedName(None, "big_a")) is None
    assert any("statement timeout" in e for e in slow.errors)
