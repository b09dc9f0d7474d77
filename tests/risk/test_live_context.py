"""Live context: the same migration judged differently on an empty and on a populated table."""

from __future__ import annotations

from typing import Any

import pytest

from pgwarden.config import RiskConfig
from pgwarden.names import QualifiedName
from pgwarden.records import Category, Migration, Severity
from pgwarden.risk import context as context_module
from pgwarden.risk.context import LiveFacts
from pgwarden.risk.engine import review


def _review(conn: Any, sql: str, rule: str, **kwargs: Any) -> list[Any]:
    return [f for f in review([Migration("m", "m.sql", sql=sql)], conn=conn, merge=False, **kwargs) if f.rule == rule]


def _populate(conn: Any, rows: int) -> None:
    conn.execute(f"insert into t (id, a, name) select g, g, case when g % 5 = 0 then null else 'n' || g end "
                 f"from generate_series(1, {rows}) g")
    conn.execute("analyze t")


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        connection.execute("create table t (id int primary key, a int, v varchar(50), name text)")
        yield connection


def test_index_on_empty_table_is_low_and_on_populated_table_high(conn: Any) -> None:
    sql = "create index t_a on t (a);"
    [empty] = _review(conn, sql, "require-concurrent-index")
    assert empty.severity is Severity.LOW and empty.context["rows"] == 0
    _populate(conn, 20_000)
    [full] = _review(conn, sql, "require-concurrent-index")
    assert full.severity is Severity.HIGH
    assert full.context["rows"] == 20_000 and full.context["bytes"] > 0 and full.context["duration"] == "seconds"
    assert "about 20,000 rows" in full.message


def test_small_table_is_lowered_one_step(conn: Any) -> None:
    _populate(conn, 5_000)  # more rows than a tiny table (tests/risk/test_false_alarms_state.py)
    [finding] = _review(conn, "create index t_a on t (a);", "require-concurrent-index")
    assert finding.severity is Severity.MEDIUM


def test_drop_column_counts_the_values_it_destroys(conn: Any) -> None:
    _populate(conn, 12_345)
    [finding] = _review(conn, "alter table t drop column name;", "drop-column")
    assert "Drops 9,876 non-null values of t.name" in finding.message
    assert finding.context["non_null"] == 9_876 and finding.severity is Severity.HIGH
    [all_null] = _review(conn, "alter table t drop column v;", "drop-column")
    assert all_null.severity is Severity.LOW and "holds no values" in all_null.message


def test_huge_tables_are_sampled(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _populate(conn, 20_000)
    monkeypatch.setattr(context_module, "SAMPLE_ABOVE_ROWS", 1_000)
    monkeypatch.setattr(context_module, "SAMPLE_TARGET_ROWS", 10_000)
    count = LiveFacts(conn).non_null_count(QualifiedName(None, "t"), "name")
    assert count is not None and count.sampled and 8_000 < count.count < 24_000


def test_not_null_without_default_will_fail_on_rows_and_only_breaks_inserts_when_empty(conn: Any) -> None:
    sql = "alter table t add column tenant int not null;"
    [empty] = _review(conn, sql, "not-null-column-without-default")
    assert (empty.category, empty.severity) == (Category.BACKWARD_INCOMPATIBLE, Severity.MEDIUM)
    _populate(conn, 10)
    [full] = _review(conn, sql, "not-null-column-without-default")
    assert (full.category, full.severity) == (Category.WILL_FAIL, Severity.HIGH)


def test_type_change_is_judged_from_the_real_current_type(conn: Any) -> None:
    _populate(conn, 100)
    assert _review(conn, "alter table t alter column v type varchar(200);", "change-column-type") == []
    assert _review(conn, "alter table t alter column v type text;", "change-column-type") == []
    [rewrite] = _review(conn, "alter table t alter column a type bigint;", "change-column-type")
    assert "from integer to bigint" in rewrite.message
    [narrow] = _review(conn, "alter table t alter column v type varchar(10);", "narrow-column-type")
    assert "character varying(50)" in narrow.message


def test_existing_valid_check_proves_not_null(conn: Any) -> None:
    _populate(conn, 100)
    conn.execute("alter table t add constraint a_nn check (a is not null)")
    assert _review(conn, "alter table t alter column a set not null;", "set-not-null") == []
    assert len(_review(conn, "alter table t alter column id set not null, alter column name set not null;",
                       "set-not-null")) == 1  # id is already NOT NULL (primary key)


def test_default_function_volatility_is_read_from_pg_proc(conn: Any) -> None:
    _populate(conn, 100)
    conn.execute("create function stable_code() returns text language sql stable as $$ select 'x' $$")
    conn.execute("create function volatile_code() returns text language sql volatile as $$ select 'x' $$")
    assert _review(conn, "alter table t add column c text default stable_code();", "add-column-volatile-default") == []
    [hit] = _review(conn, "alter table t add column c text default volatile_code();", "add-column-volatile-default")
    assert hit.severity is Severity.LOW  # high, but 100 rows in 32 kB are rewritten in an instant


def test_a_table_missing_from_the_database_is_treated_as_new(conn: Any) -> None:
    assert _review(conn, "create index i on not_there (a);", "require-concurrent-index") == []


def test_context_queries_time_out_and_fall_back_to_static(db: Any, conn: Any) -> None:
    _populate(conn, 100)
    with db.connect(autocommit=False) as locker:
        locker.execute("lock table t in access exclusive mode")
        facts_conn = db.connect()
        try:
            findings = _review(facts_conn, "create index t_a on t (a);", "require-concurrent-index",
                               risk=RiskConfig(statement_timeout=0.2))
            facts = LiveFacts(facts_conn, 0.2)
            assert facts.table(QualifiedName(None, "t")) is None
            assert any("statement timeout" in e for e in facts.errors)
        finally:
            facts_conn.close()
        locker.rollback()
    [finding] = findings
    assert finding.severity is Severity.HIGH and finding.context == {}


def test_names_that_need_quoting_are_read_and_counted(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Mixed case, spaces, a dot and a double quote: the catalog lookup, the emptiness probe and
    # both counts (full and sampled) must name exactly this table and column.
    monkeypatch.setattr(context_module, "SAMPLE_ABOVE_ROWS", 10)
    with db.connect() as conn:
        conn.execute('create schema "My.Schema"')
        conn.execute('create table "My.Schema"."Odd ""T""" (id int, "Col x" text)')
        conn.execute('insert into "My.Schema"."Odd ""T""" select g, case when g % 2 = 0 then \'v\' end '
                     "from generate_series(1, 5000) g")
        conn.execute('analyze "My.Schema"."Odd ""T"""')
        facts = LiveFacts(conn)
        name = QualifiedName("My.Schema", 'Odd "T"')
        table = facts.table(name)
        assert table is not None and table.exists and not table.empty and "Col x" in table.columns
        count = facts.non_null_count(name, "Col x")
        assert count is not None and count.sampled and count.count > 0
        monkeypatch.setattr(context_module, "SAMPLE_ABOVE_ROWS", 1_000_000)
        assert LiveFacts(conn).non_null_count(name, "Col x") == context_module.NonNullCount(2500, sampled=False)
        assert facts.errors == []
