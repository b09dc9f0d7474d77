"""LaravelTool: the --pretend parser on recorded output, and the adapter against a real database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgwarden.errors import OperationFailed
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.records import MigrationStatus
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.laravel import LaravelTool, parse_pretend_output
from tests.tools.helpers import CORPUS, PYTHON, copy_project, settings_for

RECORDED = (CORPUS / "laravel/pretend-output.txt").read_text(encoding="utf-8")
BASE_SCHEMA = """
create table customers (id bigserial primary key, name varchar(255) not null, email varchar(255) not null,
    notes text, created_at timestamp(0) without time zone null, updated_at timestamp(0) without time zone null);
create table invoices (id bigserial primary key, number varchar(255) null, amount numeric(10, 2) null,
    created_at timestamp(0) without time zone null, updated_at timestamp(0) without time zone null);
create table migrations (id serial primary key, migration varchar(255) not null, batch integer not null);
insert into migrations (migration, batch) values
    ('2024_01_10_100000_create_customers_table', 1), ('2024_01_10_100100_create_invoices_table', 1);
"""


def test_parse_laravel_11_output() -> None:
    parsed = parse_pretend_output(RECORDED)
    assert [p.name for p in parsed] == [
        "2024_05_20_081532_add_status_to_invoices_table",
        "2024_05_27_143005_add_customer_id_to_invoices_table",
        "2024_06_03_101244_change_amount_on_invoices_table",
        "2024_06_10_090000_backfill_invoice_numbers",
        "2024_06_11_120000_drop_notes_from_customers_table",
    ]
    assert parsed[0].queries == [
        "alter table \"invoices\" add column \"status\" varchar(255) not null default 'draft'",
        'create index "invoices_status_index" on "invoices" ("status")',
    ]
    # A multi-line DB::statement stays one query.
    assert parsed[3].queries == ["update invoices\nset number = 'INV-' || lpad(id::text, 8, '0')\nwhere number is null"]
    assert parsed[0].sql.count(";\n") == 2


def test_parse_with_ansi_done_markers_and_nothing_to_migrate() -> None:
    text = (
        "\x1b[37;44m INFO \x1b[39;49m Running migrations.\n\n"
        "  2024_01_01_000000_create_flights_table \x1b[90m....................\x1b[39m \x1b[33mPending\x1b[39m\n"
        '  \x1b[90m⇂\x1b[39m create table "flights" ("id" bigserial not null primary key)  \n'
    )
    parsed = parse_pretend_output(text)
    assert [(p.name, p.queries) for p in parsed] == [
        ("2024_01_01_000000_create_flights_table", ['create table "flights" ("id" bigserial not null primary key)'])
    ]
    assert parse_pretend_output("\n   INFO  Nothing to migrate.  \n") == []


def test_parse_legacy_laravel_8_output() -> None:
    text = (
        'CreateFlightsTable: create table "flights" ("id" bigserial primary key not null)\n'
        'CreateFlightsTable: alter table "flights" add column "name" varchar(255) not null\n'
        'AddGateToFlights: alter table "flights" add column "gate" varchar(10) null\n'
    )
    parsed = parse_pretend_output(text)
    assert [(p.name, len(p.queries)) for p in parsed] == [("CreateFlightsTable", 2), ("AddGateToFlights", 1)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project("laravel", tmp_path)


def tool_for(project: Path) -> LaravelTool:
    return LaravelTool(settings_for(
        "laravel", project,
        plan_command=f"{PYTHON} artisan migrate --pretend --no-ansi",
        command=f"{PYTHON} artisan migrate --force",
    ))


def test_pending_from_table_with_sql_from_plan_command(db, project: Path) -> None:
    db.execute(BASE_SCHEMA)
    tool = tool_for(project)
    with db.connect() as conn:
        statuses = {m.name: m.status for m in tool.migrations(conn)}
        assert statuses["2024_01_10_100000_create_customers_table"] is MigrationStatus.APPLIED
        pending = tool.pending(conn)
        assert tool.head(conn) == "2024_01_10_100100_create_invoices_table"
        assert tool.failed(conn) == []
        assert tool.history_state(conn)[0]["batch"] == 1
    assert len(pending) == 5
    assert pending[0].path == "database/migrations/2024_05_20_081532_add_status_to_invoices_table.php"
    assert 'create index "invoices_status_index"' in (pending[0].sql or "")
    assert "drop column" in (pending[-1].sql or "")
    assert "migrate:status" in tool.resolve_hint(pending[0].name)


def test_plan_command_failure_is_clear(project: Path) -> None:
    settings = settings_for("laravel", project, plan_command=f"{PYTHON} -c 'import sys; sys.exit(3)'")
    with pytest.raises(OperationFailed, match="exited with code 3"):
        LaravelTool(settings).pending(None)


def test_missing_plan_program_is_clear(project: Path) -> None:
    settings = settings_for("laravel", project, plan_command="no-such-php-binary artisan migrate --pretend")
    with pytest.raises(OperationFailed, match="not found"):
        LaravelTool(settings).pending(None)


def test_apply_records_batches_and_keeps_the_password_out(secret_db, project: Path, tmp_path: Path) -> None:
    secret_db.execute(BASE_SCHEMA)
    log = tmp_path / "tool.log"
    target = DatabaseTarget.from_url(secret_db.url)
    os.environ["FAKE_TOOL_LOG"] = str(log)
    try:
        result = tool_for(project).apply(target, SessionLimits(lock_timeout_s=2, statement_timeout_s=60))
    finally:
        del os.environ["FAKE_TOOL_LOG"]
    assert result.ok, result.output
    assert len(result.applied) == 5
    assert "DONE" in result.output
    settings_line, argv_line = log.read_text().splitlines()
    assert settings_line == "2s 1min pgwarden-migrate"
    assert target.password and target.password not in argv_line + result.output
    assert secret_db.scalar("select max(batch) from migrations") == 2


def test_apply_lock_timeout(db, project: Path) -> None:
    db.execute(BASE_SCHEMA)
    holder = db.connect(autocommit=False)
    holder.execute("lock table invoices in access share mode")
    try:
        result = tool_for(project).apply(DatabaseTarget.from_url(db.url), SessionLimits(0.2, 30))
    finally:
        holder.rollback()
        holder.close()
    assert not result.ok and result.lock_timeout_hit
    assert result.failed == "2024_05_20_081532_add_status_to_invoices_table"
    assert result.applied == []


def test_recorded_lists_the_migrations_table(db, project: Path) -> None:
    db.execute(BASE_SCHEMA)
    db.execute("insert into migrations (migration, batch) values ('2023_01_01_000000_removed_file', 1)")
    with db.connect() as conn:
        recorded = tool_for(project).recorded(conn)
    assert recorded[0] == "2024_01_10_100000_create_customers_table"
    assert recorded[-1] == "2023_01_01_000000_removed_file"
