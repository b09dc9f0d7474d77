"""enum-value-removed-in-use: Prisma's enum recreation. Statically medium (cannot be known); against a
real table: rows holding a dropped label -> high will-fail, none -> low, no label dropped -> silent."""

from __future__ import annotations

from typing import Any

import pytest

from pgwarden.records import Category, Severity
from tests.risk.helpers import _compare_snapshot, of_rule, rule_tests

ID = "enum-value-removed-in-use"

# What `prisma migrate dev` writes when a value leaves an enum.
PRISMA = '''-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
'''
# Hand-written: rename the old type away first, then create the new one under the old name.
RENAME_FIRST = '''ALTER TYPE "Role" RENAME TO "Role_old";
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role" USING "role"::text::"Role";
DROP TYPE "Role_old";
'''

OK: list[str | tuple[str, ...]] = [
    "ALTER TYPE \"Role\" ADD VALUE 'GUEST';",
    'ALTER TABLE "User" ALTER COLUMN "role" TYPE text;',
    ('CREATE TYPE "Role" AS ENUM (\'USER\'); CREATE TABLE "User" (id int, role "Role");\n'
     'CREATE TYPE "Role_new" AS ENUM (\'USER\', \'ADMIN\');\n'
     'ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");'),
]
ERR: list[str | tuple[str, ...]] = [PRISMA, RENAME_FIRST]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)


def test_static_is_medium_saying_it_cannot_be_known() -> None:
    [hit] = of_rule(ID, PRISMA)
    assert hit.severity is Severity.MEDIUM and "cannot be known without live context" in hit.message


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        connection.execute("create type \"Role\" as enum ('USER', 'ADMIN', 'MODERATOR', 'GUEST')")
        connection.execute('create table "User" (id int primary key, role "Role" default \'USER\')')
        connection.execute("insert into \"User\" select g, case when g % 10 = 0 then 'MODERATOR' "
                           "else 'USER' end::\"Role\" from generate_series(1, 2000) g")
        yield connection


def test_rows_holding_a_dropped_label_make_it_high_will_fail(conn: Any) -> None:
    [hit] = of_rule(ID, PRISMA, conn=conn)
    assert (hit.severity, hit.category) == (Severity.HIGH, Category.WILL_FAIL)
    assert hit.context["removed"] == ["MODERATOR", "GUEST"] and hit.context["rows_holding"] == 200
    [renamed] = of_rule(ID, RENAME_FIRST, conn=conn)
    assert renamed.severity is Severity.HIGH
    _compare_snapshot(ID + "-live", [(PRISMA, [hit]), (RENAME_FIRST, [renamed])])


def test_no_row_holding_them_is_low_backward_incompatible(conn: Any) -> None:
    conn.execute("update \"User\" set role = 'ADMIN' where role = 'MODERATOR'")
    [hit] = of_rule(ID, PRISMA, conn=conn)
    assert (hit.severity, hit.category) == (Severity.LOW, Category.BACKWARD_INCOMPATIBLE)
    assert hit.context["rows_holding"] == 0


def test_keeping_every_label_is_silent(conn: Any) -> None:
    sql = PRISMA.replace("('USER', 'ADMIN')", "('USER', 'ADMIN', 'MODERATOR', 'GUEST', 'OWNER')")
    assert of_rule(ID, sql, conn=conn) == []


def test_a_remap_earlier_in_the_plan_is_low_when_it_names_every_dropped_value(conn: Any) -> None:
    fix = "UPDATE \"User\" SET role = 'USER' WHERE role IN ('MODERATOR', 'GUEST');"
    [same] = of_rule(ID, fix + "\n" + PRISMA, conn=conn)
    [earlier] = of_rule(ID, fix, PRISMA, conn=conn)  # the recommended split: remap, then recreate
    for hit in (same, earlier):
        assert hit.severity is Severity.LOW and hit.context["remapped_earlier"], hit.message
    partial = "UPDATE \"User\" SET role = 'USER' WHERE role = 'MODERATOR';"
    [hit] = of_rule(ID, partial, PRISMA, conn=conn)
    assert hit.severity is Severity.MEDIUM and "unless the statements writing" in hit.message


def test_array_columns_are_not_counted(conn: Any) -> None:
    conn.execute('alter table "User" add column roles "Role"[]')
    sql = PRISMA.replace('"role"', '"roles"').replace('"Role_new");', '"Role_new"[]);').replace(
        'TYPE "Role_new" USING', 'TYPE "Role_new"[] USING')
    [hit] = of_rule(ID, sql, conn=conn)
    assert hit.severity is Severity.MEDIUM and "could not be counted" in hit.message
