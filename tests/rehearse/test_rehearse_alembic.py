"""``pgwarden rehearse`` with a real Alembic project: the migrations run by ``alembic upgrade head`` (a
subprocess) are told apart through alembic_version (read once per look, not through ``alembic
history``), a backfill's lock is measured, and a failure's SQLSTATE comes from the exception class
name in Alembic's traceback (``psycopg.errors.UniqueViolation``)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pgwarden.config import load_settings
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.deploy import run_deploy
from tests.fix_pg import TestDatabase
from tests.fix_project import cli_backup
from tests.rehearse.test_rehearse import fingerprint_tables, scratch_databases

HERE = Path(__file__).resolve().parent
ALEMBIC = HERE.parent / "deploy" / "alembic_project"

REVISION = '''"""{doc}"""
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''


def _revision(project: Path, rev: str, down: str, doc: str, *statements: str) -> None:
    body = "\n".join(f"    op.execute({s!r})" for s in statements)
    (project / "migrations" / "versions" / f"{rev}_{doc.replace(' ', '_')}.py").write_text(
        REVISION.format(doc=doc, rev=rev, down=down, body=body))


def test_alembic_rehearsal(db: TestDatabase, tmp_path: Path, cli: Callable[..., Any]) -> None:
    project = tmp_path / "app"
    shutil.copytree(ALEMBIC, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pgwarden.yml").write_text(
        f"migrations:\n  tool: alembic\n  path: alembic.ini\n"
        f"  command: {sys.executable} -m alembic -c alembic.ini upgrade head\n"
        "backup:\n  store: file://backups\n")
    applied = run_deploy(load_settings(project / "pgwarden.yml"), DatabaseTarget.from_url(db.url),
                         no_backup_reason="a new database")
    assert applied.ok, applied.summary
    db.execute("insert into accounts (id, email) select g, 'u' || g from generate_series(1000, 60000) g")
    db.execute("update accounts set plan = 'p' || (id % 10)")
    _revision(project, "c3", "b2", "backfill tier",
              "ALTER TABLE accounts ADD COLUMN tier int", "UPDATE accounts SET tier = id % 3")
    _revision(project, "d4", "c3", "unique plan", "CREATE UNIQUE INDEX accounts_plan_key ON accounts (plan)")
    _revision(project, "e5", "d4", "later", "CREATE TABLE later (id int)")
    cli_backup(cli, project, db.url)
    before = fingerprint_tables(db)

    done = cli("rehearse", "--format", "json", cwd=project, env={"DATABASE_URL": db.url})

    assert done.code == 1, done.output
    report = json.loads(done.stdout)
    migrations = {m["name"]: m for m in report["migrations"]}
    assert [m["status"] for m in report["migrations"]] == ["applied", "failed", "not-run"], report
    backfill = migrations["c3_backfill_tier"]
    lock = next(lk for lk in backfill["locks"] if lk["table"] == "public.accounts")
    assert lock["mode"] == "AccessExclusiveLock" and lock["held_s"] > 0
    failed = migrations["d4_unique_plan"]
    assert failed["sqlstate"] == "23505", failed
    assert failed["error"] == 'could not create unique index "accounts_plan_key"', failed
    assert "=(p" not in done.output and "DETAIL:  Key" not in done.output
    assert report["tool"] == "alembic" and report["dropped"]
    assert fingerprint_tables(db) == before and scratch_databases(db.server) == []
