"""The claims the rules make, checked against a real PostgreSQL server.

Rewrites: the table's relfilenode changes exactly for the statements pgwarden reports as
table rewrites. Locks: the lock mode a statement holds (seen in pg_locks from a second
connection while the first keeps its transaction open) is the one the rule's message names.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgwarden.records import Category, Migration
from pgwarden.risk.engine import review

SETUP = """
create table t (id int primary key, a int, v varchar(50), n numeric(10,2), name text, stamp timestamp);
insert into t select g, g, 'x' || g, g, 'n' || g, now() from generate_series(1, 200) g;
analyze t;
"""

# statement, does PostgreSQL rewrite the table?
REWRITE_CASES = [
    ("alter table t alter column a type bigint", True),
    ("alter table t alter column v type varchar(100)", False),
    ("alter table t alter column v type text", False),
    ("alter table t alter column name type varchar", False),
    ("alter table t alter column n type numeric(12,2)", False),
    ("alter table t alter column n type numeric", False),
    ("alter table t alter column n type numeric(12,4)", True),
    ("alter table t add column d int default 5", False),
    ("alter table t add column d int not null default 5", False),
    ("alter table t add column d timestamptz default now()", False),
    ("alter table t add column d float8 default random()", True),
    ("alter table t add column d uuid default gen_random_uuid()", True),
    ("alter table t add column d bigserial", True),
    ("alter table t add column d int generated always as identity", True),
    ("alter table t add column d int generated always as (a + 1) stored", True),
    ("alter table t add column d int generated always as (a + 1) virtual", False),
    ("alter table t set unlogged", True),
    ("vacuum full t", True),
    ("cluster t using t_pkey", True),
]


def _relfilenode(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("select relfilenode from pg_class where oid = 't'::regclass").fetchone()[0])


def test_relfilenode_changes_exactly_for_reported_rewrites(db: Any) -> None:
    disagreements = []
    with db.connect() as conn:
        for statement, rewrites in REWRITE_CASES:
            conn.execute("drop table if exists t cascade")
            conn.execute(SETUP)
            before = _relfilenode(conn)
            findings = review([Migration("m", "m.sql", sql=statement + ";")], conn=conn)
            reported = any(f.category is Category.TABLE_REWRITE for f in findings)
            conn.execute(statement)
            changed = _relfilenode(conn) != before
            if changed != rewrites or reported != rewrites:
                disagreements.append((statement, {"server": changed, "expected": rewrites, "pgwarden": reported}))
    assert disagreements == []


# statement, relation to look at, lock mode it must hold, does pgwarden call it blocking?
LOCK_CASES = [
    ("create index t_a on t (a)", "t", "ShareLock", True),
    ("alter table t add constraint a_pos check (a > 0)", "t", "AccessExclusiveLock", True),
    ("alter table t add constraint a_pos check (a > 0) not valid", "t", "AccessExclusiveLock", False),
    ("alter table t add constraint t_fk foreign key (a) references t (id)", "t", "ShareRowExclusiveLock", True),
    ("alter table t alter column a set not null", "t", "AccessExclusiveLock", True),
    ("alter table t add constraint t_v unique (v)", "t", "AccessExclusiveLock", True),
    ("drop index t_name", "t", "AccessExclusiveLock", True),
    ("reindex table t", "t", "ShareLock", True),
    ("refresh materialized view mv", "mv", "AccessExclusiveLock", True),
    ("lock table t in share mode", "t", "ShareLock", True),
    ("alter table t validate constraint t_fk_nv", "t", "ShareUpdateExclusiveLock", False),
]
LOCK_SETUP = SETUP + """
create index t_name on t (name);
create materialized view mv as select id from t;
alter table t add constraint t_fk_nv foreign key (a) references t (id) not valid;
"""


def test_lock_modes_of_blocking_statements(db: Any) -> None:
    disagreements = []
    with db.connect() as watcher:
        for statement, relation, mode, blocking in LOCK_CASES:
            with db.connect(autocommit=False) as conn:
                conn.execute("drop table if exists t cascade")
                conn.execute(LOCK_SETUP)
                conn.commit()
                findings = review([Migration("m", "m.sql", sql=statement + ";")], conn=watcher)
                reported = any(f.category is Category.BLOCKING_LOCK and f.rule != "require-lock-timeout"
                               for f in findings)
                conn.execute(statement)  # transaction stays open: the lock is held
                modes = {r[0] for r in watcher.execute(
                    "select mode from pg_locks where relation = %s::regclass and pid = %s and granted",
                    (relation, conn.info.backend_pid)).fetchall()}
                conn.rollback()
            if mode not in modes or reported != blocking:
                disagreements.append((statement, {"held": sorted(modes), "expected": mode, "pgwarden": reported}))
    assert disagreements == []


@pytest.mark.parametrize(
    ("sql", "rule", "error"),
    [
        ("begin; create index concurrently t_a on t (a); commit;", "concurrently-in-transaction",
         "cannot run inside a transaction block"),
        ("alter type mood add value 'meh'; update t set m = 'meh';", "enum-value-used-in-transaction",
         "unsafe use of new value"),
        ("alter table t add column required int not null;", "not-null-column-without-default",
         "contains null values"),
    ],
)
def test_will_fail_claims_fail_on_the_server(db: Any, sql: str, rule: str, error: str) -> None:
    with db.connect() as conn:
        conn.execute("create type mood as enum ('sad', 'ok'); create table t (id int, a int, m mood);"
                     "insert into t values (1, 1, 'ok'); analyze t;")
        findings = review([Migration("m", "m.sql", sql=sql)], conn=conn)
        assert rule in {f.rule for f in findings}
        with pytest.raises(psycopg.Error, match=error):
            # One simple-query string = one implicit transaction, as migration runners do it.
            conn.execute(sql.encode())
