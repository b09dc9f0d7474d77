"""Statements inside DO $$ ... $$ blocks are reviewed like top-level ones (risk/plpgsql.py)."""

from __future__ import annotations

from pgwarden.risk.parse import parse_sql
from pgwarden.risk.plpgsql import do_block_statements
from tests.risk.helpers import of_rule, run

# drizzle-kit writes every foreign key like this
DRIZZLE_FK = (
    'DO $$ BEGIN\n'
    ' ALTER TABLE "posts" ADD CONSTRAINT "posts_user_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id");\n'
    'EXCEPTION\n'
    ' WHEN duplicate_object THEN null;\n'
    'END $$;\n'
)


def test_a_validating_foreign_key_inside_a_do_block_is_found() -> None:
    hits = of_rule("require-not-valid-foreign-key", "SELECT 1;\n" + DRIZZLE_FK)
    assert len(hits) == 1
    assert hits[0].line == 3 and hits[0].table == "posts"
    assert hits[0].statement.startswith("-- inside the DO block at line 2\nALTER TABLE")


def test_a_do_block_on_tables_created_in_the_migration_is_quiet() -> None:
    sql = 'CREATE TABLE "users" (id int primary key);\nCREATE TABLE "posts" (user_id int);\n' + DRIZZLE_FK
    assert not [f for f in run(sql) if f.severity.value not in ("info", "low")]


def test_statements_nested_in_if_and_loops_are_found_dynamic_sql_is_not() -> None:
    sql = ("DO $$\nDECLARE r record;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'i') THEN\n"
           "    CREATE INDEX i ON orders (user_id);\n  END IF;\n  FOR r IN SELECT id FROM t LOOP\n"
           "    DELETE FROM users WHERE id = r.id;\n  END LOOP;\n  EXECUTE 'DROP TABLE accounts';\nEND $$;")
    inner = do_block_statements(parse_sql(sql)[0])
    assert [type(p.node).__name__ for p in inner] == ["IndexStmt", "DeleteStmt"]
    assert [p.line for p in inner] == [5, 8]
    assert of_rule("require-concurrent-index", sql) and of_rule("delete-with-where", sql)
    assert not of_rule("drop-table", sql)


def test_other_languages_and_unparseable_bodies_are_skipped() -> None:
    assert do_block_statements(parse_sql("DO LANGUAGE plpython3u $$ plpy.execute('x') $$;")[0]) == []
    assert do_block_statements(parse_sql("DO $$ BEGIN this is not plpgsql; END $$;")[0]) == []


def test_an_ignore_on_the_do_block_covers_its_statements() -> None:
    sql = "-- pgwarden:ignore require-not-valid-foreign-key posts is tiny, checked by hand\n" + DRIZZLE_FK
    assert not of_rule("require-not-valid-foreign-key", sql)


def test_an_ignore_without_reason_on_the_do_block_is_reported_once() -> None:
    sql = "-- pgwarden:ignore require-not-valid-foreign-key\n" + DRIZZLE_FK
    assert len(of_rule("ignore-without-reason", sql)) == 1
    assert of_rule("require-not-valid-foreign-key", sql)


def test_state_sees_do_block_statements() -> None:
    # The table created inside the DO block is new for what follows.
    sql = "DO $$ BEGIN CREATE TABLE t (id int); END $$;\nCREATE INDEX t_id ON t (id);"
    assert not of_rule("require-concurrent-index", sql)
