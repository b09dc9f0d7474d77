"""history-missing: no finding unless a plain CREATE TABLE of the plan targets a table that exists (snapshot-checked).

The cases give the live tables as :class:`TableFacts`; the plan step's own lookup (the history
table missing, the targets read live) runs against PostgreSQL in tests/tools/test_prisma_order.py.
"""

from __future__ import annotations

from typing import Any

from pgwarden.records import Finding, Migration
from pgwarden.risk.context import TableFacts
from pgwarden.risk.rules.history_missing import created_tables, finding
from tests.risk.helpers import case_tests

ID = "history-missing"
INIT = Migration("20240110093000_init", "prisma/migrations/20240110093000_init/migration.sql",
                 sql='CREATE TABLE "User" (id int);\nCREATE TABLE "Post" (id int);')
LATER = Migration("20240302141500_add_post_slug", "prisma/migrations/20240302141500_add_post_slug/migration.sql",
                  sql='ALTER TABLE "Post" ADD COLUMN "slug" TEXT;')


def history_findings(case: tuple[str, list[Migration], dict[str, TableFacts]]) -> list[Finding]:
    tool, migrations, live = case
    existing = [(m, live[t.key]) for m, t in created_tables(migrations) if t.key in live]
    return [finding(tool, existing, len(migrations))] if existing else []


USER = TableFacts("User", exists=True, rows=120_000, bytes=9_000_000)
POST = TableFacts("Post", exists=True, rows=0, bytes=8192, empty=True)
OK: dict[str, Any] = {
    "fresh database": ("prisma", [INIT, LATER], {}),
    "CREATE TABLE IF NOT EXISTS": ("sql", [Migration("0001_init", "m/0001_init.sql",
                                                      sql="CREATE TABLE IF NOT EXISTS t (id int);")],
                                   {"t": TableFacts("t", exists=True, rows=5)}),
}
ERR: dict[str, Any] = {
    "prisma: both tables of init exist": ("prisma", [INIT, LATER], {"User": USER, "Post": POST}),
    "alembic: one table exists": ("alembic", [Migration("1a2b_init", "alembic/versions/1a2b_init.py",
                                                         sql="CREATE TABLE users (id int);")],
                                  {"users": TableFacts("users", exists=True, rows=None, bytes=0)}),
}

test_ok, test_err, test_snapshot = case_tests(ID, history_findings, OK, ERR)
