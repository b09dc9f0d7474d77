"""concurrently-in-prisma-migration: fires only on Prisma's migration.sql with CONCURRENTLY and other statements."""

from __future__ import annotations

from pgwarden.records import Migration
from pgwarden.risk.engine import review
from tests.risk.helpers import _compare_snapshot

ID = "concurrently-in-prisma-migration"
TWO = 'CREATE INDEX CONCURRENTLY "a" ON "Post"("x");\nCREATE INDEX CONCURRENTLY "b" ON "Post"("y");\n'


def hits(sql: str, path: str = "prisma/migrations/20250101000000_idx/migration.sql") -> list:
    return [f for f in review([Migration("20250101000000_idx", path, sql=sql)]) if f.rule == ID]


def test_ok() -> None:
    assert hits('CREATE INDEX CONCURRENTLY "a" ON "Post"("x");\n') == []  # alone in its file: fine
    assert hits('CREATE INDEX "a" ON "Post"("x");\nCREATE INDEX "b" ON "Post"("y");\n') == []
    assert hits(TWO, path="migrations/0001_idx.sql") == []  # not a Prisma migration


def test_err() -> None:
    assert len(hits(TWO)) == 1
    assert len(hits('ALTER TABLE "Post" ADD COLUMN "x" text;\nDROP INDEX CONCURRENTLY "a";\n')) == 1
    found = hits('CREATE INDEX CONCURRENTLY "a" ON "Post"("x");\nALTER TABLE "Post" ADD COLUMN "y" text;\n')
    assert len(found) == 1 and "line 1" in found[0].message and found[0].line == 2


def test_snapshot() -> None:
    _compare_snapshot(ID, [(TWO.strip(), hits(TWO))])
