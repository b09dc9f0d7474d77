"""False alarms of issue #15 that the migration's own statements or the table's size answer.

1. After ``ADD COLUMN ... NOT NULL`` without a default, the table is empty (or the migration
   already failed there): later index builds, foreign keys and column drops on it are instant
   and lose nothing, so they are low, not high. A TRUNCATE or a DELETE without WHERE empties a
   table the same way.
2. An UPDATE without WHERE that fills columns added earlier in the set overwrites nothing: it is
   a backfill (the write and lock of every row, low unless the table is big), not data loss.
5. With live context, a tiny table (at most 1,000 rows in under 1 MiB, indexes included) is
   judged like an empty one: the work is instant, so at most low.

Each pattern has its err case (the false alarm, now low or info) and its ok case (the true
finding that must stay: another table, another migration, rows inserted, a default).
"""

from __future__ import annotations

from typing import Any

import pglast
import pytest

from pgwarden.records import Category, Finding, Migration, Severity
from pgwarden.risk import rule as rule_module
from pgwarden.risk.engine import review
from pgwarden.risk.state import SetState
from tests.risk.helpers import of_rule, run

ADD_REQUIRED = 'ALTER TABLE "Order" ADD COLUMN "userId" TEXT NOT NULL;\n'
FOREIGN_KEY = ('ALTER TABLE "Order" ADD CONSTRAINT "Order_userId_fkey" FOREIGN KEY ("userId") '
               'REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n')
INDEX = 'CREATE INDEX "Order_userId_idx" ON "Order"("userId");\n'
DROP = 'ALTER TABLE "Order" DROP COLUMN "customer";\n'


def _one(rule: str, *sqls: str) -> Finding:
    [finding] = of_rule(rule, *sqls)
    return finding


# --- 1. a table known empty -------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "later"), [
    ("require-not-valid-foreign-key", FOREIGN_KEY),
    ("require-concurrent-index", INDEX),
    ("drop-column", DROP),
    ("require-unique-using-index", 'ALTER TABLE "Order" ADD CONSTRAINT "Order_key" UNIQUE ("userId");\n'),
    ("change-column-type", 'ALTER TABLE "Order" ALTER COLUMN "total" TYPE bigint;\n'),
    ("set-not-null", 'ALTER TABLE "Order" ALTER COLUMN "customer" SET NOT NULL;\n'),
])
def test_err_findings_after_a_required_column_are_low(rule: str, later: str) -> None:
    finding = _one(rule, ADD_REQUIRED + later)
    assert finding.severity is Severity.LOW, finding.message
    assert 'Order must be empty' in finding.message and "NOT NULL without a default" in finding.message
    assert "rows" not in finding.context  # not measured: no size is claimed
    assert finding.context["empty_because"].startswith('Order must be empty')


def test_err_the_required_column_itself_is_still_reported() -> None:
    finding = _one("not-null-column-without-default", ADD_REQUIRED + INDEX)
    assert finding.severity is Severity.HIGH


def test_err_other_commands_of_the_same_statement_run_on_an_empty_table() -> None:
    sql = ('ALTER TABLE "Order" ADD COLUMN "userId" TEXT NOT NULL, ADD CONSTRAINT "Order_userId_fkey" '
           'FOREIGN KEY ("userId") REFERENCES "User"("id");')
    # The engine may fold the findings of one statement into the highest one (context["merged"]).
    found = run(sql)
    severities = {f.rule: f.severity.value for f in found}
    severities.update({m["rule"]: m["severity"] for f in found for m in f.context.get("merged", ())})
    assert severities["not-null-column-without-default"] == "high"
    assert severities["require-not-valid-foreign-key"] == "low"


@pytest.mark.parametrize("emptied", [
    'TRUNCATE "Order";\n',
    'DELETE FROM "Order";\n',
])
def test_err_truncate_and_delete_all_empty_the_table(emptied: str) -> None:
    finding = _one("require-concurrent-index", emptied + INDEX)
    assert finding.severity is Severity.LOW and 'Order is empty' in finding.message


def test_err_a_renamed_empty_table_stays_empty() -> None:
    finding = _one("require-concurrent-index",
                   ADD_REQUIRED + 'ALTER TABLE "Order" RENAME TO "Purchase";\nCREATE INDEX i ON "Purchase"(a);')
    assert finding.severity is Severity.LOW


@pytest.mark.parametrize(("name", "sqls"), [
    ("a default fills the rows", ('ALTER TABLE "Order" ADD COLUMN "userId" TEXT NOT NULL DEFAULT \'\';\n' + INDEX,)),
    ("an identity column fills the rows",
     ('ALTER TABLE "Order" ADD COLUMN n int GENERATED ALWAYS AS IDENTITY NOT NULL;\n' + INDEX,)),
    ("a nullable column", ('ALTER TABLE "Order" ADD COLUMN "userId" TEXT;\n' + INDEX,)),
    ("another table", ('ALTER TABLE "Other" ADD COLUMN "userId" TEXT NOT NULL;\n' + INDEX,)),
    ("a later migration: the app may have inserted rows in between", (ADD_REQUIRED, INDEX)),
    ("rows inserted after it", (ADD_REQUIRED + 'INSERT INTO "Order" SELECT * FROM "OldOrder";\n' + INDEX,)),
    ("rows copied in after it", (ADD_REQUIRED + 'COPY "Order" FROM \'/tmp/orders.csv\';\n' + INDEX,)),
    ("rows merged in after it", (ADD_REQUIRED + 'MERGE INTO "Order" o USING "Old" s ON o.id = s.id '
                                 'WHEN NOT MATCHED THEN INSERT VALUES (s.id);\n' + INDEX,)),
    ("a DO block may insert", (ADD_REQUIRED + 'DO $$ BEGIN PERFORM 1; END $$;\n' + INDEX,)),
    ("a procedure may insert", (ADD_REQUIRED + 'CALL fill_orders();\n' + INDEX,)),
    ("a DELETE with WHERE", ('DELETE FROM "Order" WHERE id < 10;\n' + INDEX,)),
    ("the index comes first", (INDEX + ADD_REQUIRED,)),
])
def test_ok_true_findings_stay_high(name: str, sqls: tuple[str, ...]) -> None:
    assert _one("require-concurrent-index", *sqls).severity is Severity.HIGH, name


def test_ok_a_drop_column_on_a_table_not_known_empty_stays_high() -> None:
    assert _one("drop-column", 'ALTER TABLE "Order" ADD COLUMN "userId" TEXT;\n' + DROP).severity is Severity.HIGH


# --- 2. backfills of new columns ----------------------------------------------------------------

def test_err_a_backfill_of_a_new_column_is_no_data_loss() -> None:
    finding = _one("update-without-where",
                   "ALTER TABLE users ADD COLUMN slug text;\nUPDATE users SET slug = lower(name);")
    assert (finding.category, finding.severity) == (Category.BLOCKING_LOCK, Severity.LOW)
    assert "overwrites nothing" in finding.message


def test_err_a_column_added_by_an_earlier_migration_of_the_set_is_new_too() -> None:
    finding = _one("update-without-where", "ALTER TABLE users ADD COLUMN slug text;",
                   "UPDATE users SET slug = lower(name);")
    assert finding.category is Category.BLOCKING_LOCK


@pytest.mark.parametrize("sql", [
    "UPDATE users SET name = lower(name);",
    "ALTER TABLE users ADD COLUMN slug text;\nUPDATE users SET slug = lower(name), name = upper(name);",
    "ALTER TABLE other ADD COLUMN slug text;\nUPDATE users SET slug = lower(name);",
])
def test_ok_overwriting_an_existing_column_stays_data_loss(sql: str) -> None:
    finding = _one("update-without-where", sql)
    assert (finding.category, finding.severity) == (Category.DATA_LOSS, Severity.MEDIUM)


# --- live: real facts win, tiny tables are instant -----------------------------------------------

def _review(conn: Any, sql: str, rule: str) -> list[Finding]:
    return [f for f in review([Migration("m", "m.sql", sql=sql)], conn=conn) if f.rule == rule]


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        connection.execute("create table t (id int primary key, a int, name text)")
        yield connection


def _populate(conn: Any, rows: int) -> None:
    conn.execute(f"insert into t select g, g, 'n' || g from generate_series(1, {rows}) g")
    conn.execute("analyze t")


@pytest.mark.parametrize("rows", [2, 12, 1_000])
def test_err_live_index_on_a_tiny_table_is_low(conn: Any, rows: int) -> None:
    _populate(conn, rows)
    [finding] = _review(conn, "create index t_a on t (a);", "require-concurrent-index")
    assert finding.severity is Severity.LOW and finding.context["duration"] == "instant"
    assert f"about {rows:,} rows" in finding.message and "for a moment" in finding.message
    assert finding.context["bytes"] < 1024 * 1024


@pytest.mark.parametrize(("rows", "pad"), [(2_000, 0), (800, 1_500)])
def test_ok_live_a_table_over_a_tiny_limit_is_only_lowered_one_step(conn: Any, rows: int, pad: int) -> None:
    _populate(conn, rows)
    if pad:  # few rows, but over 1 MiB (under the 2 kB at which TOAST would compress them)
        conn.execute(f"update t set name = repeat('x', {pad})")
        conn.execute("vacuum analyze t")
    [finding] = _review(conn, "create index t_a on t (a);", "require-concurrent-index")
    assert finding.severity is Severity.MEDIUM


@pytest.mark.parametrize(("rule", "sql"), [
    ("drop-column", "alter table t drop column name;"),
    ("delete-without-where", "delete from t;"),
    ("update-without-where", "update t set name = 'x';"),
])
def test_ok_live_data_loss_on_a_tiny_table_is_still_reported(conn: Any, rule: str, sql: str) -> None:
    # Twelve rows of data are still data: drops and deletes are not weighed by size.
    _populate(conn, 12)
    [finding] = _review(conn, sql, rule)
    assert finding.category is Category.DATA_LOSS
    assert finding.severity >= (Severity.LOW if rule == "update-without-where" else Severity.HIGH)


def test_ok_live_rows_win_over_the_required_column(conn: Any) -> None:
    # With rows the ADD COLUMN fails (will-fail, high); fixed with a default, the index build is
    # what the table meets, so it is judged by the real size, not as "must be empty".
    _populate(conn, 20_000)
    sql = "alter table t add column tenant int not null;\ncreate index t_a on t (a);"
    [fails] = _review(conn, sql, "not-null-column-without-default")
    assert (fails.category, fails.severity) == (Category.WILL_FAIL, Severity.HIGH)
    [index] = _review(conn, sql, "require-concurrent-index")
    assert index.severity is Severity.HIGH and index.context["rows"] == 20_000


def test_err_live_empty_table_with_the_required_column(conn: Any) -> None:
    [index] = _review(conn, "alter table t add column tenant int not null;\ncreate index t_a on t (a);",
                      "require-concurrent-index")
    assert index.severity is Severity.LOW and index.context["rows"] == 0


def test_live_backfill_is_info_on_a_small_table_and_medium_on_a_big_one(conn: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _populate(conn, 5_000)
    conn.execute("update t set name = repeat('x', 400)")  # over 1 MiB: small, not tiny
    conn.execute("vacuum analyze t")
    sql = "alter table t add column slug text;\nupdate t set slug = name;"
    # update-without-where's own verdict: backfill-under-lock (the ALTER's lock held through the
    # update) meets the same statement, and the merged finding is led by the higher of the two.
    def _review(conn: Any, sql: str, rule: str) -> list[Finding]:
        return [f for f in review([Migration("m", "m.sql", sql=sql)], conn=conn, merge=False) if f.rule == rule]

    [small] = _review(conn, sql, "update-without-where")
    assert (small.category, small.severity) == (Category.BLOCKING_LOCK, Severity.INFO)
    monkeypatch.setattr(rule_module, "BIG_ROWS", 1_000)
    [big] = _review(conn, sql, "update-without-where")
    assert (big.category, big.severity) == (Category.BLOCKING_LOCK, Severity.MEDIUM)
    assert "about 5,000 rows" in big.message


def test_enum_types_created_in_the_migration_are_remembered_with_their_labels() -> None:
    # For enum-value-removed-in-use: a type recreated here lacks the labels it does not list.
    state = SetState()
    state.observe(pglast.parse_sql("CREATE TYPE \"Role_new\" AS ENUM ('USER', 'ADMIN');")[0].stmt)
    assert state.migration.created_enums == {"Role_new": ("USER", "ADMIN")}
    state.start_migration("next")
    assert state.migration.created_enums == {}


def test_err_a_second_required_column_is_medium_the_first_stays_high() -> None:
    first, second = of_rule("not-null-column-without-default",
                            ADD_REQUIRED + 'ALTER TABLE "Order" ADD COLUMN "shopId" TEXT NOT NULL;')
    assert first.severity is Severity.HIGH
    assert second.severity is Severity.MEDIUM and "Order must be empty" in second.message
    assert "inserts from the running release" in second.message


def test_ok_required_columns_in_two_migrations_are_both_high() -> None:
    hits = of_rule("not-null-column-without-default", ADD_REQUIRED,
                   'ALTER TABLE "Order" ADD COLUMN "shopId" TEXT NOT NULL;')
    assert [h.severity for h in hits] == [Severity.HIGH, Severity.HIGH]
