"""The migration patterns of issue 15, each with the findings a reviewer should get (static review).

A pattern is a list of statements with ``{t}`` (an existing table of the app), ``{u}`` (another
existing table), ``{c}`` (a column name) and ``{n}`` (a serial) in it, written once with quoted
identifiers (valid in every tool's output); :mod:`tests.corpus.generate` renders it the way Prisma,
Laravel ``--pretend``, Alembic ``--sql`` and a plain SQL folder write it.

``expect``: what must be reported at medium or above, each a rule id or ``category:<category>``
(any rule of that category). Everything else at medium or above is a false alarm. ``owner``: the
helper who fixed the pattern in issue 15's session (H, I, J, K), or ``open`` for a known gap not
fixed yet (counted in the numbers, not required to be exact).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    name: str
    statements: tuple[str, ...]
    expect: frozenset[str] = frozenset()
    owner: str = ""  # who fixed it: H, I, J, K; "open": a known gap, not fixed yet
    tools: tuple[str, ...] = ("prisma", "laravel", "alembic", "sql")
    why: str = ""


def p(name: str, *statements: str, expect: tuple[str, ...] = (), owner: str = "",
      tools: tuple[str, ...] = ("prisma", "laravel", "alembic", "sql"), why: str = "") -> Pattern:
    return Pattern(name, statements, frozenset(expect), owner, tools, why)


NEW_TABLE = ('CREATE TABLE "{t}_{c}" ("id" BIGSERIAL NOT NULL, "{t}_id" BIGINT NOT NULL, "note" TEXT, '
             '"created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, '
             'CONSTRAINT "{t}_{c}_pkey" PRIMARY KEY ("id"))')

PATTERNS: list[Pattern] = [
    # --- typical, safe -------------------------------------------------------------------------
    p("create-table-with-index", NEW_TABLE, 'CREATE INDEX "{t}_{c}_{t}_id_idx" ON "{t}_{c}" ("{t}_id")',
      'ALTER TABLE "{t}_{c}" ADD CONSTRAINT "{t}_{c}_{t}_id_fkey" FOREIGN KEY ("{t}_id") REFERENCES "{t}"("id") '
      'ON DELETE RESTRICT ON UPDATE CASCADE',
      why="everything on a table the migration creates is instant (the FK's lock on {t} is brief: no scan "
          "of an empty table)"),
    p("add-nullable-column", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT'),
    p("add-column-constant-default", 'ALTER TABLE "{t}" ADD COLUMN "{c}" BOOLEAN NOT NULL DEFAULT false',
      why="metadata only since PostgreSQL 11"),
    p("comment-only", "COMMENT ON TABLE \"{t}\" IS 'owned by team {c}'"),
    p("concurrent-index-plain-sql", 'CREATE INDEX CONCURRENTLY "{t}_{c}_idx" ON "{t}" ("created_at")',
      tools=("sql",)),
    p("fk-not-valid", 'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{c}_fkey" FOREIGN KEY ("{u}_id") REFERENCES "{u}"("id") '
      "NOT VALID"),
    p("updated-at-column", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP',
      why="CURRENT_TIMESTAMP is stable, evaluated once: no rewrite"),
    p("array-default", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT[] DEFAULT ARRAY[]::TEXT[]'),
    p("drop-not-null", 'ALTER TABLE "{t}" ALTER COLUMN "note" DROP NOT NULL'),
    p("set-and-drop-default", "ALTER TABLE \"{t}\" ALTER COLUMN \"note\" SET DEFAULT 'n/a'",
      'ALTER TABLE "{t}" ALTER COLUMN "created_at" DROP DEFAULT'),
    p("drop-foreign-key", 'ALTER TABLE "{t}" DROP CONSTRAINT "{t}_{u}_id_fkey"'),
    p("rename-constraint", 'ALTER TABLE "{t}" RENAME CONSTRAINT "{t}_pkey" TO "{t}_{c}_pkey"'),
    p("new-enum-type", "CREATE TYPE \"Status_{c}\" AS ENUM ('ACTIVE', 'ARCHIVED')",
      'ALTER TABLE "{t}" ADD COLUMN "{c}" "Status_{c}"'),
    p("add-enum-value", "ALTER TYPE \"Role\" ADD VALUE 'MODERATOR'", tools=("prisma", "sql")),
    p("seed-rows", "INSERT INTO \"{u}\" (\"id\", \"note\") VALUES (1, 'system'), (2, 'bot') ON CONFLICT DO NOTHING"),
    p("fix-one-row", "UPDATE \"{t}\" SET \"note\" = 'fixed' WHERE \"id\" = 42",
      why="a data fix of one row, no lock held from an earlier ALTER"),
    p("view-and-function", 'CREATE VIEW "{t}_{c}_v" AS SELECT "id", "note" FROM "{t}"',
      "CREATE OR REPLACE FUNCTION \"touch_{c}\"() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
      "NEW.created_at := now(); RETURN NEW; END $f$", tools=("sql", "alembic", "prisma")),
    p("session-settings", "SET lock_timeout = '5s'", "SET statement_timeout = '30s'",
      'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT', tools=("sql", "alembic")),
    p("drop-table-created-here", NEW_TABLE, 'DROP TABLE "{t}_{c}"'),
    # --- typical, risky ------------------------------------------------------------------------
    p("index-existing-table", 'CREATE INDEX "{t}_{c}_idx" ON "{t}" ("created_at")',
      expect=("require-concurrent-index",)),
    p("unique-index-existing-table", 'CREATE UNIQUE INDEX "{t}_{c}_key" ON "{t}" ("note")',
      expect=("require-concurrent-index",)),
    p("add-required-column", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT NOT NULL',
      expect=("not-null-column-without-default",)),
    p("drop-column", 'ALTER TABLE "{t}" DROP COLUMN "note"', expect=("drop-column",)),
    p("drop-table", 'DROP TABLE "{t}"', expect=("drop-table",)),
    p("rename-column", 'ALTER TABLE "{t}" RENAME COLUMN "note" TO "{c}"', expect=("rename-column",)),
    p("rename-table", 'ALTER TABLE "{t}" RENAME TO "{t}_{c}"', expect=("rename-table",)),
    p("int-to-bigint", 'ALTER TABLE "{t}" ALTER COLUMN "{u}_id" SET DATA TYPE BIGINT',
      expect=("change-column-type",)),
    p("set-not-null", 'ALTER TABLE "{t}" ALTER COLUMN "note" SET NOT NULL', expect=("set-not-null",)),
    p("fk-validating", 'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{c}_fkey" FOREIGN KEY ("{u}_id") REFERENCES "{u}"("id") '
      "ON DELETE SET NULL ON UPDATE CASCADE", expect=("require-not-valid-foreign-key",)),
    p("check-validating", 'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{c}_check" CHECK ("id" > 0)',
      expect=("require-not-valid-check",)),
    p("unique-constraint", 'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{c}_key" UNIQUE ("note")',
      expect=("require-unique-using-index",)),
    p("volatile-default", 'ALTER TABLE "{t}" ADD COLUMN "{c}" UUID NOT NULL DEFAULT gen_random_uuid()',
      expect=("add-column-volatile-default",)),
    p("truncate", 'TRUNCATE TABLE "{t}"', expect=("truncate-table",)),
    p("update-everything", "UPDATE \"{t}\" SET \"note\" = ''", expect=("update-without-where",),
      why="overwrites every row of an existing column: data loss"),
    p("delete-everything", 'DELETE FROM "{t}"', expect=("delete-without-where",)),
    p("drop-index", 'DROP INDEX "{t}_created_at_idx"', expect=("require-concurrent-index-drop",)),
    p("concurrently-in-prisma", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT',
      'CREATE INDEX CONCURRENTLY "{t}_{c}_idx" ON "{t}" ("{c}")',
      tools=("prisma",), expect=("concurrently-in-prisma-migration",),
      why="next to another statement Prisma runs the file as one implicit transaction: it fails"),
    p("concurrently-alone-in-prisma", 'CREATE INDEX CONCURRENTLY "{t}_{c}_idx" ON "{t}" ("created_at")',
      tools=("prisma",), why="alone in its file it runs outside a transaction: the safe way"),
    p("replace-fk-prisma", 'ALTER TABLE "{t}" DROP CONSTRAINT "{t}_{u}_id_fkey"',
      'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{u}_id_fkey" FOREIGN KEY ("{u}_id") REFERENCES "{u}"("id") '
      "ON DELETE CASCADE ON UPDATE CASCADE", expect=("require-not-valid-foreign-key",)),
    p("replace-unique-index", 'DROP INDEX "{t}_note_key"',
      'CREATE UNIQUE INDEX "{t}_note_{c}_key" ON "{t}" ("note", "id")',
      expect=("require-concurrent-index-drop", "require-concurrent-index")),
    p("add-primary-key", 'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{c}_pkey" PRIMARY KEY ("id")',
      expect=("require-unique-using-index",)),
    p("laravel-create-with-unique-and-fk",
      'CREATE TABLE "{t}_{c}" ("id" bigserial not null primary key, "{u}_id" bigint not null, '
      '"email" varchar(255) not null, "created_at" timestamp(0) without time zone null)',
      'ALTER TABLE "{t}_{c}" ADD CONSTRAINT "{t}_{c}_email_unique" UNIQUE ("email")',
      'ALTER TABLE "{t}_{c}" ADD CONSTRAINT "{t}_{c}_{u}_id_foreign" FOREIGN KEY ("{u}_id") REFERENCES "{u}" ("id")',
      why="constraints of a table the migration creates: nothing to scan"),
    p("text-to-varchar", 'ALTER TABLE "{t}" ALTER COLUMN "note" SET DATA TYPE VARCHAR(100)',
      expect=("category:table-rewrite",), why="a narrowing: every row is checked under ACCESS EXCLUSIVE"),
    p("generated-stored-column", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT GENERATED ALWAYS AS (lower("note")) STORED',
      expect=("category:table-rewrite",), why="a stored generated column rewrites the table"),
    p("bigserial-column", 'ALTER TABLE "{t}" ADD COLUMN "{c}" BIGSERIAL', expect=("add-column-volatile-default",),
      why="nextval() is volatile: every row gets its own value, a rewrite"),
    p("refresh-matview", 'REFRESH MATERIALIZED VIEW "{t}_summary"', expect=("require-concurrent-refresh",),
      tools=("sql", "alembic")),
    p("reindex-table", 'REINDEX TABLE "{t}"', expect=("require-concurrent-reindex",), tools=("sql", "alembic")),
    p("lock-table", 'LOCK TABLE "{t}" IN ACCESS EXCLUSIVE MODE', 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT',
      expect=("explicit-lock",), tools=("sql", "alembic")),
    p("vacuum-full", 'VACUUM FULL "{t}"', expect=("vacuum-full",), tools=("sql",)),
    # --- false alarms of issue 15 ---------------------------------------------------------------
    p("fa1-required-column-then-fk-index", 'ALTER TABLE "{t}" ADD COLUMN "{u}_ref" BIGINT NOT NULL',
      'CREATE INDEX "{t}_{u}_ref_idx" ON "{t}" ("{u}_ref")',
      'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{u}_ref_fkey" FOREIGN KEY ("{u}_ref") REFERENCES "{u}"("id")',
      expect=("not-null-column-without-default",), owner="H",
      why="after ADD COLUMN NOT NULL without default the table is empty or the migration fails there"),
    p("fa1-required-column-then-drop", 'ALTER TABLE "{t}" ADD COLUMN "{c}" INTEGER NOT NULL',
      'ALTER TABLE "{t}" DROP COLUMN "note"', expect=("not-null-column-without-default",), owner="H"),
    p("fa2-backfill-new-column", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT',
      "UPDATE \"{t}\" SET \"{c}\" = 'x'", expect=("category:blocking-lock",), owner="J",
      why="fills a column added just before: overwrites nothing (no data loss, fixed by H); the ALTER's lock "
          "is held through the update, which a static review reports low while a plain CREATE INDEX on the "
          "same table of unknown size is high (J: backfill-under-lock takes the no-WHERE backfill too)"),
    p("fa3-one-statement-many-rules",
      'ALTER TABLE "{t}" ADD COLUMN "{c}" BIGINT NOT NULL, ADD CONSTRAINT "{t}_{c}_fkey" FOREIGN KEY ("{c}") '
      'REFERENCES "{u}"("id"), ALTER COLUMN "note" SET NOT NULL',
      expect=("not-null-column-without-default",), owner="I",
      why="one statement, one finding (the others folded in as detail)"),
    p("fa4-drop-index-of-dropped-table", 'DROP INDEX "{t}_{c}_idx"', 'DROP TABLE "{t}"',
      expect=("drop-table",), owner="I", tools=("prisma",),
      why="Prisma names an index <table>_<column>_idx; the DROP TABLE is the finding"),
    # --- misses of issue 15 --------------------------------------------------------------------
    p("m1-backfill-where-after-alter", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT',
      "UPDATE \"{t}\" SET \"{c}\" = 'x' WHERE \"id\" > 0", expect=("backfill-under-lock",), owner="J"),
    p("m1-backfill-from-after-alter", 'ALTER TABLE "{t}" ADD COLUMN "{c}" BIGINT',
      'UPDATE "{t}" SET "{c}" = "{u}"."id" FROM "{u}" WHERE "{u}"."id" = "{t}"."{u}_id"',
      expect=("backfill-under-lock",), owner="J"),
    p("m2-insert-select", NEW_TABLE, 'INSERT INTO "{t}_{c}" ("{t}_id", "note") SELECT "id", "note" FROM "{t}"',
      expect=("insert-select-copy",), owner="J"),
    p("m3-delete-where", "DELETE FROM \"{t}\" WHERE \"note\" = 'obsolete'", expect=("delete-with-where",),
      owner="J"),
    p("m4-do-block-fk", 'DO $$ BEGIN ALTER TABLE "{t}" ADD CONSTRAINT "{t}_{c}_fkey" FOREIGN KEY ("{u}_id") '
      'REFERENCES "{u}"("id"); EXCEPTION WHEN duplicate_object THEN NULL; END $$',
      expect=("require-not-valid-foreign-key",), owner="J", tools=("prisma", "sql", "alembic")),
    p("m6-concurrent-if-not-exists", 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{t}_{c}_idx" ON "{t}" ("created_at")',
      expect=("concurrent-index-if-not-exists",), owner="J", tools=("sql",)),
    p("m7-enum-recreation", "CREATE TYPE \"Role_new\" AS ENUM ('USER', 'ADMIN')",
      'ALTER TABLE "{t}" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new")',
      'ALTER TYPE "Role" RENAME TO "Role_old"', 'ALTER TYPE "Role_new" RENAME TO "Role"', 'DROP TYPE "Role_old"',
      expect=("enum-value-removed-in-use", "change-column-type"), owner="K", tools=("prisma",)),
    p("m8-prisma-begin-commit", "BEGIN", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT', "COMMIT", "BEGIN",
      'ALTER TABLE "{t}" ADD COLUMN "{c}_2" TEXT', "COMMIT",
      expect=("transaction-in-prisma-migration",), owner="J", tools=("prisma",)),
    p("m10-many-tables-one-transaction", 'ALTER TABLE "{t}" ADD COLUMN "{c}" TEXT',
      'ALTER TABLE "{u}" ADD COLUMN "{c}" TEXT', 'ALTER TABLE "events" ADD COLUMN "{c}" TEXT',
      'ALTER TABLE "accounts" ADD COLUMN "{c}" TEXT', 'ALTER TABLE "sessions" ADD COLUMN "{c}" TEXT',
      expect=("lock-footprint",), owner="J", tools=("prisma", "alembic", "laravel")),
    p("m9-create-extension", 'CREATE EXTENSION IF NOT EXISTS "pg_trgm"',
      why="only a live review can know the server lacks it"),
]
