"""Issue 15's static misses weighed by live facts (real PostgreSQL, read-only lookups).

backfill-under-lock, insert-select-copy, delete-with-where and lock-footprint say how big the
tables are when a database is at hand: tiny ones are low, a big one raises the finding, an
empty one gives none.
"""

from __future__ import annotations

from typing import Any

import pytest

from pgwarden.records import Finding, Migration, Severity
from pgwarden.risk import rule as rule_module
from pgwarden.risk.engine import review


def _review(conn: Any, sql: str, rule: str) -> list[Finding]:
    return [f for f in review([Migration("m", "m.sql", sql=sql)], conn=conn, merge=False) if f.rule == rule]


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        for name in ("t", "u", "v", "w"):
            connection.execute(f"create table {name} (id int primary key, a int, name text)")
        yield connection


def _populate(conn: Any, table: str, rows: int) -> None:
    conn.execute(f"insert into {table} select g, g, 'n' || g from generate_series(1, {rows}) g")
    conn.execute(f"analyze {table}")


def test_delete_with_where_is_medium_on_a_table_with_rows_low_when_tiny_none_when_empty(conn: Any) -> None:
    sql = "delete from t where a < 10;"
    assert _review(conn, sql, "delete-with-where") == []  # empty: nothing to lose
    _populate(conn, "t", 50)
    [tiny] = _review(conn, sql, "delete-with-where")
    assert tiny.severity == Severity.LOW and "about 50 rows" in tiny.message
    _populate(conn, "u", 20_000)
    [small] = _review(conn, "delete from u where a < 10;", "delete-with-where")
    assert small.severity == Severity.MEDIUM and small.context["rows"] == 20_000


def test_backfill_under_lock_is_sized_by_the_table(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "alter table t add column slug text;\nupdate t set slug = name where slug is null;"
    _populate(conn, "t", 20_000)
    [medium] = _review(conn, sql, "backfill-under-lock")
    assert medium.severity == Severity.MEDIUM and "about 20,000 rows" in medium.message
    assert medium.context["locked_at_line"] == 1
    monkeypatch.setattr(rule_module, "BIG_ROWS", 10_000)
    [big] = _review(conn, sql, "backfill-under-lock")
    assert big.severity == Severity.HIGH


def test_insert_select_copy_is_sized_by_its_sources(conn: Any) -> None:
    sql = "insert into v (id, a, name) select id, a, name from t;"
    assert _review(conn, sql, "insert-select-copy") == []  # an empty source copies nothing
    _populate(conn, "t", 100)
    [tiny] = _review(conn, sql, "insert-select-copy")
    assert tiny.severity == Severity.LOW
    _populate(conn, "u", 20_000)
    [copy] = _review(conn, "insert into v select u.id, u.a, t.name from u join t on t.id = u.id;",
                     "insert-select-copy")
    assert copy.severity == Severity.MEDIUM and set(copy.context["sources"]) == {"t", "u"}


def test_lock_footprint_is_low_when_every_locked_table_is_tiny(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "".join(f"alter table {name} add column note text;\n" for name in ("t", "u", "v", "w"))
    for name in ("t", "u", "v", "w"):
        _populate(conn, name, 10)
    [tiny] = _review(conn, sql, "lock-footprint")
    assert tiny.severity == Severity.LOW and "4 existing tables" in tiny.message
    conn.execute("truncate t")
    _populate(conn, "t", 20_000)
    [medium] = _review(conn, sql, "lock-footprint")
    assert medium.severity == Severity.MEDIUM


def test_the_lookups_leave_the_database_unchanged(conn: Any) -> None:
    _populate(conn, "t", 30)
    review([Migration("m", "m.sql", sql="alter table t add column x int;\ndelete from t where a < 3;\n"
                      "insert into u select * from t;")], conn=conn)
    assert conn.execute("select count(*) from t").fetchone()[0] == 30
    assert conn.execute("select count(*) from u").fetchone()[0] == 0
    assert "x" not in [row[0] for row in conn.execute(
        "select attname from pg_attribute where attrelid = 't'::regclass and attnum > 0")]


def test_concurrent_index_if_not_exists_is_high_when_an_invalid_index_of_that_name_exists(db: Any) -> None:
    sql = "create index concurrently if not exists t_a_idx on t (a);"
    with db.connect(autocommit=True) as conn:
        conn.execute("create table t (id int primary key, a int)")
        conn.execute("insert into t values (1, 1), (2, 1)")
        [medium] = _review(conn, sql, "concurrent-index-if-not-exists")
        assert medium.severity == Severity.MEDIUM
        with pytest.raises(Exception, match="could not create unique index"):
            conn.execute("create unique index concurrently t_a_idx on t (a)")  # fails, leaves it INVALID
        [high] = _review(conn, sql, "concurrent-index-if-not-exists")
        assert high.severity == Severity.HIGH and "INVALID index t_a_idx" in high.message
