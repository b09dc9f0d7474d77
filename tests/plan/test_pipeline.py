"""plan_migrations: explicit PATHs, the JSON contract, and history findings from a real database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pgwarden.config import Settings
from pgwarden.errors import ConfigError
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.plan import plan_migrations
from pgwarden.records import Category, Severity
from pgwarden.risk.rules import edited_after_apply, failed_migration, sql_unavailable
from tests.tools.helpers import PYTHON, copy_project, settings_for

SUMMARY_KEYS = {"max_severity", "blocked", "counts", "fail_on"}
FINDING_KEYS = {"rule", "category", "severity", "migration", "file", "line", "statement", "table", "message",
                "suggestion", "context"}


def test_explicit_paths_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.sql").write_text("create table b (id int);\n")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "V2__two.sql").write_text("select 2;\n")
    (folder / "V10__ten.sql").write_text("select 10;\n")
    prisma = tmp_path / "20240101000000_init"
    prisma.mkdir()
    (prisma / "migration.sql").write_text("select 1;\n")
    report = plan_migrations(Settings(), paths=["b.sql", "migrations", str(prisma)])
    assert [m.name for m in report.migrations] == ["b", "V2__two", "V10__ten", "20240101000000_init"]
    assert [m.path for m in report.migrations][:2] == ["b.sql", "migrations/V2__two.sql"]
    assert all(m.status.value == "pending" for m in report.migrations)


def test_missing_path_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.sql: no such file"):
        plan_migrations(Settings(), paths=[str(tmp_path / "nope.sql")])


def test_json_shape_and_fail_on(tmp_path: Path) -> None:
    sql = tmp_path / "0001_drop.sql"
    sql.write_text("-- a comment\nDROP TABLE orders;\n")
    report = plan_migrations(Settings(), paths=[str(sql)])
    doc = report.to_json()
    assert set(doc) == {"version", "tool", "basis", "base", "database", "migrations", "findings", "waived",
                        "notes", "rehearsal", "summary"}
    assert (doc["tool"], doc["basis"], doc["base"], doc["database"], doc["waived"]) == ("paths", "static", None,
                                                                                       None, [])
    assert doc["rehearsal"] is None  # only with plan --rehearsal FILE
    assert doc["version"] == 1
    assert set(doc["summary"]) == SUMMARY_KEYS
    assert doc["migrations"] == [{"name": "0001_drop", "path": str(sql), "status": "pending",
                                  "sql": "-- a comment\nDROP TABLE orders;\n"}]
    drop = [f for f in doc["findings"] if f["rule"] == "drop-table"]
    assert drop and set(drop[0]) == FINDING_KEYS
    assert drop[0]["line"] == 2 and drop[0]["category"] == "data-loss"
    assert doc["summary"]["blocked"] is True
    assert doc["summary"]["counts"][doc["summary"]["max_severity"]] >= 1
    assert plan_migrations(Settings(), paths=[str(sql)], fail_on="never").blocked is False
    assert plan_migrations(Settings(), paths=[str(sql)], fail_on="critical").blocked is (
        report.max_severity is Severity.CRITICAL)
    with pytest.raises(ConfigError, match="fail-on"):
        plan_migrations(Settings(), paths=[str(sql)], fail_on="severe")


def test_fail_on_from_config(tmp_path: Path) -> None:
    sql = tmp_path / "0001_drop.sql"
    sql.write_text("DROP TABLE orders;\n")
    settings = Settings()
    settings.risk.fail_on = "never"
    assert plan_migrations(settings, paths=[str(sql)]).blocked is False


def _record_prisma(db, project: Path, name: str, *, finished: bool, checksum: str | None = None) -> None:
    from tests.corpus.prisma.fake_prisma import DDL

    sql = (project / "prisma/migrations" / name / "migration.sql").read_bytes()
    db.execute(DDL)
    db.execute(
        'insert into "_prisma_migrations" (id, checksum, migration_name, finished_at, logs) '
        "values (gen_random_uuid()::text, %s, %s, case when %s then now() end, %s)",
        (checksum or hashlib.sha256(sql).hexdigest(), name, finished,
         None if finished else "Database error code: 23502\n\ncolumn \"slug\" contains null values"),
    )


def test_failed_and_edited_prisma_migrations_become_critical_findings(db, tmp_path: Path) -> None:
    project = copy_project("prisma", tmp_path)
    init = project / "prisma/migrations/20240110093000_init/migration.sql"
    db.execute(init.read_text())
    _record_prisma(db, project, "20240110093000_init", finished=True, checksum="f" * 64)
    _record_prisma(db, project, "20240302141500_add_post_slug", finished=False)
    report = plan_migrations(settings_for("prisma", project), target=DatabaseTarget.from_url(db.url))
    statuses = {m.name: m.status.value for m in report.migrations}
    assert statuses["20240110093000_init"] == "edited"
    assert statuses["20240302141500_add_post_slug"] == "failed"
    failed = next(f for f in report.findings if f.rule == failed_migration.ID)
    assert failed.severity is Severity.CRITICAL and failed.category is Category.WILL_FAIL
    assert "npx prisma migrate resolve --rolled-back 20240302141500_add_post_slug" in failed.suggestion
    assert "23502" in failed.context["logs"]
    edited = next(f for f in report.findings if f.rule == edited_after_apply.ID)
    assert edited.migration == "20240110093000_init" and edited.severity is Severity.CRITICAL
    assert report.blocked and report.to_json()["summary"]["max_severity"] == "critical"


def test_sql_tool_edited_file_is_a_finding_not_a_crash(db, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_init.sql").write_text("create table t (id int);\n")
    (folder / "0002_more.sql").write_text("alter table t add column x int;\n")
    db.execute("create table pgwarden_migrations (name text primary key, checksum text not null, "
               "started_at timestamptz not null default now(), finished_at timestamptz, duration_ms bigint, "
               "applied_by text, run_id text, error text)")
    db.execute("insert into pgwarden_migrations (name, checksum, finished_at) values ('0001_init', 'x', now())")
    db.execute("create table t (id int)")
    report = plan_migrations(settings_for("sql", tmp_path), target=DatabaseTarget.from_url(db.url))
    assert [m.name for m in report.pending] == ["0002_more"]
    assert [f.rule for f in report.findings if f.rule == edited_after_apply.ID] == [edited_after_apply.ID]


def test_plan_session_is_read_only(db, tmp_path: Path) -> None:
    project = copy_project("prisma", tmp_path)
    plan_migrations(settings_for("prisma", project), target=DatabaseTarget.from_url(db.url))
    assert db.scalar("select to_regclass('_prisma_migrations')") is None


def test_laravel_migration_without_sql_is_flagged(db, tmp_path: Path) -> None:
    project = copy_project("laravel", tmp_path)
    script = project / "one.py"
    script.write_text(
        "print('  2024_05_20_081532_add_status_to_invoices_table ........')\n"
        "print('  ⇂ alter table \"invoices\" add column \"status\" varchar(255) null')\n"
    )
    db.execute("create table invoices (id bigserial primary key)")
    db.execute("create table migrations (id serial primary key, migration varchar(255) not null, batch int not null)")
    db.execute("insert into migrations (migration, batch) values ('2024_01_10_100000_create_customers_table', 1), "
               "('2024_01_10_100100_create_invoices_table', 1)")
    settings = settings_for("laravel", project, plan_command=f"{PYTHON} one.py")
    report = plan_migrations(settings, target=DatabaseTarget.from_url(db.url))
    unavailable = [f.migration for f in report.findings if f.rule == sql_unavailable.ID]
    assert len(report.pending) == 5
    assert "2024_05_20_081532_add_status_to_invoices_table" not in unavailable
    assert len(unavailable) == 4
