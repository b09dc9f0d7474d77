"""The real-migration corpus planned end to end against real databases seeded with data.

Each project is written the way its tool writes migrations (Prisma's generated migration.sql,
Alembic autogenerate revisions run through `alembic upgrade --sql`, Laravel 11 `--pretend`
output through a stand-in artisan). The assertions are what a release manager would want to
hear about, not the exact wording of each rule.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.plan import plan_migrations
from pgwarden.records import Category, Finding, PlanReport, Severity
from pgwarden.report.markdown import render_markdown
from pgwarden.risk.rules import sql_unavailable
from tests.tools.helpers import CORPUS, PYTHON, settings_for

pytestmark = pytest.mark.filterwarnings("error")


def of(report: PlanReport, migration_prefix: str, category: Category | None = None) -> list[Finding]:
    return [
        f for f in report.findings
        if (f.migration or "").startswith(migration_prefix) and (category is None or f.category is category)
    ]


def describe(report: PlanReport) -> str:
    return "\n".join(f"{f.severity.value} {f.category.value} {f.rule} {f.migration}: {f.message}"
                     for f in report.findings)


# --- Prisma ----------------------------------------------------------------------------------

PRISMA = CORPUS / "prisma"


def seed_prisma(db, *, users: int, posts: int) -> None:
    from tests.corpus.prisma.fake_prisma import DDL

    init = PRISMA / "prisma/migrations/20240110093000_init/migration.sql"
    db.execute(init.read_text())
    db.execute(DDL)
    db.execute(
        "insert into _prisma_migrations (id, checksum, migration_name, finished_at, applied_steps_count) "
        "values (gen_random_uuid()::text, %s, '20240110093000_init', now(), 1)",
        (hashlib.sha256(init.read_bytes()).hexdigest(),),
    )
    db.execute(f"""insert into "User" (email, name) select 'u' || g || '@example.com', 'User ' || g
                   from generate_series(1, {users}) g""")
    if posts:
        db.execute(f"""insert into "Post" (title, "authorId") select 'Post ' || g, 1 + g % {users}
                       from generate_series(1, {posts}) g""")
    db.execute("analyze")


def test_prisma_corpus_on_a_populated_database(db) -> None:
    seed_prisma(db, users=3000, posts=20000)
    report = plan_migrations(settings_for("prisma", PRISMA), target=DatabaseTarget.from_url(db.url))
    assert [m.name for m in report.pending] == [
        "20240302141500_add_post_slug", "20240415080000_post_author_index",
        "20240520120000_drop_user_name", "20240601090000_add_role_moderator",
    ]
    # A required column without default on a table with rows cannot succeed.
    will_fail = of(report, "20240302141500", Category.WILL_FAIL)
    assert will_fail and will_fail[0].table == "Post" and will_fail[0].severity >= Severity.HIGH, describe(report)
    # Plain CREATE [UNIQUE] INDEX on an existing, populated table blocks writes.
    for prefix in ("20240302141500", "20240415080000"):
        locks = of(report, prefix, Category.BLOCKING_LOCK)
        assert any(f.severity >= Severity.HIGH and "CONCURRENTLY" in f.suggestion for f in locks), describe(report)
    # Dropping a column says how much data goes with it.
    loss = of(report, "20240520120000", Category.DATA_LOSS)
    assert loss and "3,000" in loss[0].message, describe(report)
    assert report.blocked
    markdown = render_markdown(report)
    assert "Drops 3,000" in markdown or "3,000" in markdown


def test_prisma_corpus_on_empty_tables_is_not_blocked_by_table_size(db) -> None:
    seed_prisma(db, users=1, posts=0)
    db.execute('delete from "User"')
    report = plan_migrations(settings_for("prisma", PRISMA), target=DatabaseTarget.from_url(db.url))
    assert not of(report, "20240302141500", Category.WILL_FAIL), describe(report)
    assert all(f.severity < Severity.HIGH for f in of(report, "20240415080000")), describe(report)


def test_prisma_corpus_static_sees_new_tables_as_safe() -> None:
    report = plan_migrations(settings_for("prisma", PRISMA))
    assert len(report.pending) == 5
    # Everything after init touches tables init creates: new and empty, so nothing blocks.
    assert not report.blocked, describe(report)


# --- Alembic ---------------------------------------------------------------------------------

ALEMBIC_INI = CORPUS / "alembic/alembic.ini"


def test_alembic_corpus_against_a_database_at_revision_2(db) -> None:
    from pgwarden.tools.external import python_tool

    subprocess.run([*python_tool("alembic"), "-c", str(ALEMBIC_INI), "upgrade", "2a3b4c5d6e7f"],
                   env={**os.environ, "DATABASE_URL": db.url}, check=True, capture_output=True)
    db.execute("""insert into users (email, name, legacy_notes)
                  select 'u' || g || '@example.com', 'User ' || g, case when g % 4 = 0 then 'vip' end
                  from generate_series(1, 2000) g""")
    db.execute("""insert into orders (user_id, total, status)
                  select 1 + g % 2000, g % 500, 'paid' from generate_series(1, 30000) g""")
    db.execute("analyze")
    report = plan_migrations(settings_for("alembic", CORPUS, path="alembic/alembic.ini"),
                             target=DatabaseTarget.from_url(db.url))
    assert [m.name.split("_")[0] for m in report.pending] == ["3b4c5d6e7f80", "4c5d6e7f8091"]
    assert report.pending[0].path.endswith("versions/3b4c5d6e7f80_index_status_unique_email.py")
    locks = of(report, "3b4c5d6e7f80", Category.BLOCKING_LOCK)
    assert {f.table for f in locks if f.severity >= Severity.MEDIUM} >= {"orders", "users"}, describe(report)
    # varchar(20) -> varchar(50) is a widening PostgreSQL does without a rewrite.
    assert not of(report, "4c5d6e7f8091", Category.TABLE_REWRITE), describe(report)
    loss = of(report, "4c5d6e7f8091", Category.DATA_LOSS)
    assert loss and "500" in loss[0].message and loss[0].table == "users", describe(report)
    assert report.blocked


# --- Laravel ---------------------------------------------------------------------------------

LARAVEL = CORPUS / "laravel"


def test_laravel_corpus_through_pretend_output(db) -> None:
    from tests.tools.test_laravel import BASE_SCHEMA

    db.execute(BASE_SCHEMA)
    db.execute("""insert into customers (name, email, notes)
                  select 'C' || g, 'c' || g || '@example.com', case when g % 10 = 0 then 'note' end
                  from generate_series(1, 5000) g""")
    db.execute("""insert into invoices (number, amount) select null, g % 1000 from generate_series(1, 40000) g""")
    db.execute("analyze")
    settings = settings_for("laravel", LARAVEL, plan_command=f"{PYTHON} artisan migrate --pretend --no-ansi")
    report = plan_migrations(settings, target=DatabaseTarget.from_url(db.url))
    assert len(report.pending) == 5
    assert report.pending[0].path == "database/migrations/2024_05_20_081532_add_status_to_invoices_table.php"
    # A constant default is metadata-only since PostgreSQL 11: no rewrite; the plain index blocks writes.
    assert not of(report, "2024_05_20_081532", Category.TABLE_REWRITE), describe(report)
    assert of(report, "2024_05_20_081532", Category.BLOCKING_LOCK), describe(report)
    # A foreign key added without NOT VALID scans the table under lock.
    assert any("NOT VALID" in f.suggestion for f in of(report, "2024_05_27_143005")), describe(report)
    # numeric(10,2) -> numeric(8,2) narrows: a rewrite that can lose or reject data.
    narrowing = of(report, "2024_06_03_101244")
    assert any(f.category in (Category.DATA_LOSS, Category.TABLE_REWRITE, Category.WILL_FAIL) for f in narrowing), \
        describe(report)
    loss = of(report, "2024_06_11_120000", Category.DATA_LOSS)
    assert loss and "500" in loss[0].message and loss[0].table == "customers", describe(report)
    assert all(f.rule != sql_unavailable.ID for f in report.findings), describe(report)
