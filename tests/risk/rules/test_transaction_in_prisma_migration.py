"""transaction-in-prisma-migration: ok cases stay silent, err cases fire (their text is snapshot-checked)."""

from __future__ import annotations

from pgwarden.records import Finding, Migration
from pgwarden.risk.engine import review
from tests.risk.helpers import case_tests

ID = "transaction-in-prisma-migration"


def _prisma(sql: str, path: str = "prisma/migrations/20240101000000_init/migration.sql") -> list[Finding]:
    return review([Migration(name="20240101000000_init", path=path, sql=sql)], merge=False)


OK = {
    "no transaction statements": 'ALTER TABLE "User" ADD COLUMN "a" TEXT;',
    "the whole file in one BEGIN ... COMMIT": 'BEGIN;\nALTER TABLE "User" ADD COLUMN "a" TEXT;\nCOMMIT;',
    "a plain SQL file (not Prisma's layout)": ("BEGIN;\nALTER TABLE a ADD COLUMN x int;\nCOMMIT;\n"
                                               "ALTER TABLE b ADD COLUMN x int;", "migrations/001.sql"),
}
ERR = {
    "two blocks": 'BEGIN;\nALTER TABLE "User" ADD COLUMN "a" TEXT;\nCOMMIT;\n'
                  'BEGIN;\nALTER TABLE "Post" ADD COLUMN "b" TEXT;\nCOMMIT;',
    "statements after the COMMIT": 'ALTER TABLE "User" ADD COLUMN "a" TEXT;\nCOMMIT;\nCREATE INDEX "i" ON "Post"("b");',
    "a ROLLBACK": 'UPDATE "User" SET "a" = 1 WHERE "a" IS NULL;\nROLLBACK;\nALTER TABLE "Post" ADD COLUMN "b" TEXT;',
}


def _findings(case: str | tuple[str, str]) -> list[Finding]:
    return _prisma(*case) if isinstance(case, tuple) else _prisma(case)


test_ok, test_err, test_snapshot = case_tests(ID, _findings, OK, ERR)
