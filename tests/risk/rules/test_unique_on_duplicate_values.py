"""unique-on-duplicate-values: statically an info note (cannot be known); against a real table the
duplicates are counted: none -> silent, some -> high will-fail (medium after a write to the table)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pgwarden.config import RiskConfig
from pgwarden.records import Category, Severity
from pgwarden.risk import live_values
from tests.risk.helpers import _compare_snapshot, of_rule, rule_tests, run

ID = "unique-on-duplicate-values"
OK: list[str | tuple[str, ...]] = [
    "CREATE TABLE t (id int); CREATE UNIQUE INDEX t_id ON t (id);",
    "CREATE INDEX users_email ON users (email);",
    "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
    "ALTER TABLE users ADD COLUMN code text; CREATE UNIQUE INDEX users_code ON users (code);",
    "ALTER TABLE users ADD COLUMN tenant int NOT NULL, ADD CONSTRAINT u UNIQUE (email);",  # fails or empty
]
ERR: list[str | tuple[str, ...]] = [
    'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");',
    "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email), ADD PRIMARY KEY (id);",
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)


def test_static_findings_are_info_saying_it_cannot_be_known() -> None:
    [hit] = of_rule(ID, ERR[0])
    assert hit.severity is Severity.INFO and "cannot be known without live context" in hit.message


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        connection.execute("create table users (id int, email text, tenant int, deleted_at timestamptz)")
        connection.execute("insert into users select g, 'u' || g || '@x.io', g % 3, null "
                           "from generate_series(1, 5000) g")
        yield connection


def _live(conn: Any, *sqls: str, **kwargs: Any) -> list[Any]:
    return [f for f in run(*sqls, conn=conn, **kwargs) if f.rule == ID]


def _own_text(findings: list[Any]) -> list[Any]:
    """This rule's own message and suggestion, without what the engine merges in from other rules."""
    return [replace(f, message=f.message.split(". Also on this statement")[0],
                    suggestion=f.suggestion.split(" For ")[0]) for f in findings]


def test_no_duplicates_is_silent(conn: Any) -> None:
    assert _live(conn, "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email);") == []
    assert _live(conn, "ALTER TABLE users ADD PRIMARY KEY (id);") == []
    conn.execute("insert into users (id, email) values (6001, null), (6002, null)")
    assert _live(conn, "CREATE UNIQUE INDEX users_email ON users (email);") == []  # NULLs are distinct


LIVE_ERR = [
    "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email);",
    "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);",
    "CREATE UNIQUE INDEX users_email_lower ON users (lower(email)) WHERE deleted_at IS NULL;",
    "CREATE UNIQUE INDEX users_tenant ON users (tenant);",
    ("DELETE FROM users a USING users b WHERE a.id > b.id AND a.email = b.email;\n"
     "CREATE UNIQUE INDEX users_email ON users (email);"),
]


def _duplicate(conn: Any) -> None:
    conn.execute("insert into users values (1, 'u1@x.io', 9, null), (2, 'U2@x.io', 9, null), "
                 "(3, 'u3@x.io', 9, now())")


def test_duplicates_make_it_high_will_fail(conn: Any) -> None:
    _duplicate(conn)
    [index] = _live(conn, LIVE_ERR[0])
    assert (index.severity, index.category) == (Severity.HIGH, Category.WILL_FAIL)
    assert index.context["duplicate_keys"] == 2 and not index.context["capped"]
    assert "INVALID index" in index.message
    [pkey] = _live(conn, LIVE_ERR[1])
    assert pkey.context["duplicate_keys"] == 3
    # lower(): u2 and U2 collide; the partial index ignores the soft-deleted u3 duplicate
    [expression] = _live(conn, LIVE_ERR[2])
    assert expression.context["duplicate_keys"] == 2
    [capped] = _live(conn, LIVE_ERR[3])
    assert capped.context["duplicate_keys"] == 4 and capped.severity is Severity.HIGH
    [after_dedupe] = _live(conn, LIVE_ERR[4])
    assert after_dedupe.severity is Severity.MEDIUM and "unless the statements writing" in after_dedupe.message
    [dedupe_in_an_earlier_migration] = _live(conn, *LIVE_ERR[4].split("\n"))
    assert dedupe_in_an_earlier_migration.severity is Severity.MEDIUM
    _compare_snapshot(ID + "-live", [(s, _own_text(_live(conn, s))) for s in LIVE_ERR])


def test_nulls_not_distinct_counts_null_keys(conn: Any) -> None:
    conn.execute("insert into users (id, email) values (6001, null), (6002, null)")
    [hit] = _live(conn, "CREATE UNIQUE INDEX users_email ON users (email) NULLS NOT DISTINCT;")
    assert hit.context["duplicate_keys"] == 1


def test_a_primary_key_over_null_values_fails_too(conn: Any) -> None:
    conn.execute("insert into users (id, email) values (null, 'n1@x.io'), (null, 'n2@x.io')")
    [hit] = _live(conn, "ALTER TABLE users ADD PRIMARY KEY (id);")
    assert hit.severity is Severity.HIGH and hit.context == {**hit.context, "duplicate_keys": 0, "null_keys": 2}
    assert "2 rows have a NULL in the key" in hit.message
    assert _live(conn, "CREATE UNIQUE INDEX users_id ON users (id);") == []  # NULLs are distinct there


def test_the_count_stops_at_the_cap(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_values, "COUNT_CAP", 2)
    [hit] = _live(conn, LIVE_ERR[3])
    assert hit.context["duplicate_keys"] == 2 and hit.context["capped"]
    assert "at least 2 key values" in hit.message


def test_a_lookup_that_times_out_says_it_is_not_known(db: Any, conn: Any) -> None:
    with db.connect(autocommit=False) as locker:
        locker.execute("lock table users in access exclusive mode")
        with db.connect() as other:
            hits = _live(other, LIVE_ERR[0], risk=RiskConfig(statement_timeout=0.2))
    assert [h.severity for h in hits] in ([Severity.INFO], [])
