"""Deploy with each migration tool: Alembic for real; Prisma and Laravel through stand-in scripts
(tests/corpus) that write the same history rows as the real tools; then verify agrees."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pgwarden.config import load_settings
from pgwarden.errors import SafetyRefusal
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.pipeline.verify import run_verify
from tests.deploy.helpers import FAST_DEPLOY, verified_backup

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "corpus"
PYTHON = sys.executable


def configure(base: Path, migrations: str) -> DatabaseTarget | None:
    (base / "pgwarden.yml").write_text(migrations + "backup:\n  store: file://backups\n" + FAST_DEPLOY)
    return None


def test_alembic_for_real(db, tmp_path: Path) -> None:
    project = tmp_path / "app"
    shutil.copytree(HERE / "alembic_project", project, ignore=shutil.ignore_patterns("__pycache__"))
    # `python -m alembic`: the test venv's bin folder need not be on PATH.
    configure(project, f"migrations:\n  tool: alembic\n  path: alembic.ini\n"
                       f"  command: {PYTHON} -m alembic -c alembic.ini upgrade head\n")
    settings = load_settings(project / "pgwarden.yml")
    target = DatabaseTarget.from_url(db.url)

    result = run_deploy(settings, target, no_backup_reason="new database", environment="production")

    assert result.ok, result.summary + result.details.get("output", "")
    assert [name.split("_")[0] for name in result.details["applied"]] == ["a1", "b2"]
    assert db.scalar("select version_num from alembic_version") == "b2"
    assert db.scalar("select count(*) from accounts") == 20
    backup = verified_backup(settings, target)
    verify = run_verify(settings, target, backup_id=backup.id)
    assert verify.ok, [c for c in verify.checks if not c.ok]

    # A revision that fails: Alembic rolls it back; the result names it and the restore command.
    (project / "migrations/versions/c3_broken.py").write_text(
        '"""broken"""\nfrom alembic import op\n\nrevision = "c3"\ndown_revision = "b2"\n'
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n"
        '    op.execute("ALTER TABLE accounts ADD COLUMN tier text")\n'
        '    op.execute("ALTER TABLE no_such_table ADD COLUMN x int")\n\n\ndef downgrade() -> None:\n    pass\n'
    )
    failed = run_deploy(settings, target, backup_id=backup.id)
    assert not failed.ok
    assert "no_such_table" in (failed.details["error"] or "") + failed.details["output"]
    assert failed.details["restore_command"] == f"pgwarden restore --backup-id {backup.id} --confirm {db.name}"
    assert failed.details["history"] == [{"version_num": "b2"}]
    assert db.scalar("select count(*) from information_schema.columns where column_name = 'tier'") == 0
    assert not run_verify(settings, target, backup_id=backup.id).ok


def prisma_project(tmp_path: Path) -> Path:
    project = tmp_path / "prisma-app"
    shutil.copytree(CORPUS / "prisma", project, ignore=shutil.ignore_patterns("__pycache__"))
    configure(project, f"migrations:\n  tool: prisma\n  path: prisma/migrations\n"
                       f"  command: {PYTHON} fake_prisma.py migrate deploy\n")
    return project


def test_prisma_through_a_stand_in_script(db, tmp_path: Path) -> None:
    project = prisma_project(tmp_path)
    settings = load_settings(project / "pgwarden.yml")
    target = DatabaseTarget.from_url(db.url)

    result = run_deploy(settings, target, no_backup_reason="new database")
    assert result.ok, result.summary + result.details.get("output", "")
    assert len(result.details["applied"]) == 5
    assert db.scalar("select count(*) from _prisma_migrations where finished_at is not null") == 5

    # A failing migration: Prisma records it (finished_at null) and refuses until it is resolved.
    broken = project / "prisma/migrations/20240701000000_broken"
    broken.mkdir()
    (broken / "migration.sql").write_text('ALTER TABLE "NoSuchTable" ADD COLUMN "x" INTEGER;\n')
    failed = run_deploy(settings, target, no_backup_reason="test")
    assert not failed.ok
    assert failed.details["failed_migration"] == "20240701000000_broken"
    assert any(row["migration_name"] == "20240701000000_broken" and row["finished_at"] is None
               for row in failed.details["history"])
    with pytest.raises(SafetyRefusal, match="prisma migrate resolve --rolled-back 20240701000000_broken"):
        run_deploy(settings, target, no_backup_reason="test")
    verify = run_verify(settings, target)
    assert not verify.ok and verify.checks[0].name in ("every migration applied", "no failed migration")


def test_prisma_forbidden_command_in_production(db, tmp_path: Path) -> None:
    project = prisma_project(tmp_path)
    text = (project / "pgwarden.yml").read_text().replace(f"{PYTHON} fake_prisma.py migrate deploy",
                                                          "npx prisma db push --accept-data-loss")
    (project / "pgwarden.yml").write_text(text)
    settings = load_settings(project / "pgwarden.yml")
    with pytest.raises(SafetyRefusal, match="prisma db push") as refused:
        run_deploy(settings, DatabaseTarget.from_url(db.url), no_backup_reason="test", environment="prod")
    assert "--accept-data-loss" in str(refused.value)
    assert db.scalar("select to_regclass('_prisma_migrations')") is None


LARAVEL_BASE = """
create table customers (id bigserial primary key, name varchar(255) not null, email varchar(255) not null,
    notes text, created_at timestamp(0) without time zone null, updated_at timestamp(0) without time zone null);
create table invoices (id bigserial primary key, number varchar(255) null, amount numeric(10, 2) null,
    created_at timestamp(0) without time zone null, updated_at timestamp(0) without time zone null);
create table migrations (id serial primary key, migration varchar(255) not null, batch integer not null);
insert into migrations (migration, batch) values
    ('2024_01_10_100000_create_customers_table', 1), ('2024_01_10_100100_create_invoices_table', 1);
"""


def test_laravel_through_a_stand_in_artisan(db, tmp_path: Path) -> None:
    project = tmp_path / "laravel-app"
    shutil.copytree(CORPUS / "laravel", project, ignore=shutil.ignore_patterns("__pycache__"))
    configure(project, f"migrations:\n  tool: laravel\n  path: database/migrations\n"
                       f"  command: {PYTHON} artisan migrate --force\n"
                       f"  plan_command: {PYTHON} artisan migrate --pretend --no-ansi\n")
    (project / "pgwarden.yml").write_text((project / "pgwarden.yml").read_text()
                                          + f"  hooks:\n    pre: {PYTHON} -c \"print('down')\" >> hooks.log\n"
                                            f"    post: {PYTHON} -c \"print('up')\" >> hooks.log\n")
    db.execute(LARAVEL_BASE)
    settings = load_settings(project / "pgwarden.yml")
    target = DatabaseTarget.from_url(db.url)
    backup = verified_backup(settings, target)

    result = run_deploy(settings, target, backup_id=backup.id, environment="production")

    assert result.ok, result.summary + result.details.get("output", "")
    assert len(result.details["applied"]) == 5
    assert db.scalar("select max(batch) from migrations") == 2
    assert (project / "hooks.log").read_text().split() == ["down", "up"]
    verify = run_verify(settings, target)
    assert verify.details["backup_id"] == backup.id
    history = {c.name: c for c in verify.checks}
    assert history["every migration applied"].ok
