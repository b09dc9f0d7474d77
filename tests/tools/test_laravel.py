"""LaravelTool: the --pretend parser on recorded output, reading the app's files, the guard's view of
artisan, and the adapter against a real database through the stand-in artisan (tests/corpus/laravel),
which prints Laravel 11's format that the real Laravel 8 (tests/real/) cannot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.guards import forbidden_in
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.records import MigrationStatus
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.external import CommandResult, child_environment
from pgwarden.tools.laravel import LaravelTool, parse_pretend_output
from pgwarden.tools.laravel_app import history_table_of
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


# --- Laravel 8's --pretend format, with the names pgwarden reads from the files ----------------

LARAVEL_8_OUTPUT = """\
    Migration table created successfully.
    2024_02_01_000002_add_email_index: create index orders_email_index on orders (email)
AddTotalToOrdersTable: alter table "orders" add column "total" integer null
AddTotalToOrdersTable: update orders
set total = 0
        where total is null
Comment: this line belongs to the update too
"""
NAMES = {
    "2024_02_01_000002_add_email_index": "2024_02_01_000002_add_email_index",
    "2024_03_01_000003_add_total_to_orders_table": "2024_03_01_000003_add_total_to_orders_table",
    "AddTotalToOrdersTable": "2024_03_01_000003_add_total_to_orders_table",
}


def test_parse_laravel_8_anonymous_named_and_multi_line() -> None:
    parsed = parse_pretend_output(LARAVEL_8_OUTPUT, NAMES)
    assert [p.name for p in parsed] == ["2024_02_01_000002_add_email_index",
                                        "2024_03_01_000003_add_total_to_orders_table"]
    assert parsed[0].queries == ["create index orders_email_index on orders (email)"]
    assert parsed[1].queries == [
        'alter table "orders" add column "total" integer null',
        "update orders\nset total = 0\nwhere total is null\nComment: this line belongs to the update too",
    ]


def test_parse_laravel_8_failed_to_dump_queries_is_unknown_sql() -> None:
    text = ("AddTotalToOrdersTable: failed to dump queries. This may be due to changing database columns "
            "using Doctrine, which is not supported while pretending to run migrations.\n")
    [parsed] = parse_pretend_output(text, NAMES)
    assert parsed.name == "2024_03_01_000003_add_total_to_orders_table"
    assert parsed.unavailable and parsed.queries == []


def test_printed_names_and_atomic_come_from_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "database/migrations"
    folder.mkdir(parents=True)
    (folder / "2024_01_01_000001_add_total.php").write_text(
        "<?php\n// class Wrong extends Migration\nclass AddTotalToOrders extends Migration\n{\n}\n")
    (folder / "2024_01_01_000002_index.php").write_text(
        "<?php\nreturn new class extends Migration\n{\n    public $withinTransaction = false;\n};\n")
    (folder / "2024_01_01_000003_plain.php").write_text(
        "<?php\nreturn new class extends Migration\n{\n    // public $withinTransaction = false;\n};\n")
    tool = LaravelTool(settings_for("laravel", tmp_path, path="database/migrations"))
    assert tool.printed_names() == {
        "2024_01_01_000001_add_total": "2024_01_01_000001_add_total",
        "AddTotalToOrders": "2024_01_01_000001_add_total",
        "2024_01_01_000002_index": "2024_01_01_000002_index",
        "Index": "2024_01_01_000002_index",
        "2024_01_01_000003_plain": "2024_01_01_000003_plain",
        "Plain": "2024_01_01_000003_plain",
    }
    assert [m.atomic for m in tool.migrations(None)] == [True, False, True]


# --- the history table, from config/database.php ----------------------------------------------


@pytest.mark.parametrize(("entry", "env_file", "environ", "expected"), [
    ("'migrations' => 'schema_migrations',", "", {}, "schema_migrations"),
    ('"migrations" => "history",', "", {}, "history"),
    ("'migrations' => env('DB_MIGRATIONS', 'fallback'),", "", {}, "fallback"),
    ("'migrations' => env('DB_MIGRATIONS', 'fallback'),", "DB_MIGRATIONS=from_dotenv\n", {}, "from_dotenv"),
    ("'migrations' => env('DB_MIGRATIONS', 'fallback'),", "DB_MIGRATIONS=from_dotenv\n",
     {"DB_MIGRATIONS": "from_env"}, "from_env"),
    ("'migrations' => ['table' => 'l11_migrations', 'update_date_on_publish' => true],", "", {}, "l11_migrations"),
    ("// 'migrations' => 'commented_out',\n    'migrations' => 'real_one',", "", {}, "real_one"),
    ("", "", {}, "migrations"),
])
def test_history_table_of(tmp_path: Path, entry: str, env_file: str, environ: dict[str, str],
                          expected: str) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config/database.php").write_text(
        "<?php\nreturn [\n    'default' => 'pgsql',\n    'url' => 'http://example.com',\n"
        f"    'connections' => ['pgsql' => ['driver' => 'pgsql']],\n    {entry}\n];\n")
    (tmp_path / ".env").write_text(env_file)
    assert history_table_of(tmp_path, environ) == expected


def test_history_table_pgwarden_cannot_read_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config/database.php").write_text("<?php\nreturn [\n    'migrations' => $table,\n];\n")
    with pytest.raises(ConfigError, match=r"database\.php:3: 'migrations': expected a table name"):
        history_table_of(tmp_path, {})
    settings = settings_for("laravel", tmp_path)
    with pytest.raises(ConfigError):
        LaravelTool(settings)


def test_history_table_without_config_is_laravels_default(tmp_path: Path) -> None:
    assert history_table_of(tmp_path, {}) == "migrations"


# --- abbreviated artisan commands (Symfony Console resolves them) -------------------------------


@pytest.mark.parametrize(("command", "labels"), [
    ("php artisan mi:fr --force", ["migrate:fresh"]),
    ("php artisan migrate:fr", ["migrate:fresh"]),
    ("php artisan MIGRATE:FRESH", ["migrate:fresh"]),
    ("./artisan db:w --force", ["db:wipe"]),
    ("php artisan --env production mig:refr", ["migrate:refresh"]),
    ("php artisan migrate:re", ["migrate:reset", "migrate:refresh"]),  # ambiguous: refused either way
    ("sh -c 'php artisan mi:fr --force'", ["migrate:fresh"]),
    ("docker compose exec app bash -lc \"php artisan db:w\"", ["db:wipe"]),
    ("php artisan migrate --force", []),
    ("php artisan migrate:status", []),
    ("php artisan mi", []),  # ambiguous in Symfony: runs nothing
    ("php artisan db:seed --force", []),
    ("echo 'php artisan mi:fr' > notes.txt", []),
    ("make mi:fr", []),  # not artisan: Symfony's abbreviations do not apply
])
def test_artisan_abbreviations(command: str, labels: list[str]) -> None:
    assert [rule.label for rule in forbidden_in(command)] == labels


# --- what the child gets, and what a failed run is blamed on ------------------------------------


def test_laravel_child_gets_limits_in_pgoptions_and_a_socket_url_it_can_parse(monkeypatch) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    target = DatabaseTarget({"user": "app", "password": "pw", "dbname": "shop", "host": "/run/pg",
                             "options": "-c search_path=app"})
    env = child_environment(target, SessionLimits(2, 60), url_env_names=("DATABASE_URL",), url_options=False,
                            read_only=True)
    assert env["DATABASE_URL"].startswith("postgresql://app:pw@localhost/shop?")
    assert "options" not in env["DATABASE_URL"] and "host=%2Frun%2Fpg" in env["DATABASE_URL"]
    assert env["PGOPTIONS"] == ("-c search_path=app -c lock_timeout=2000ms -c statement_timeout=60000ms "
                                "-c default_transaction_read_only=on")


@pytest.mark.parametrize(("output", "blamed"), [
    ("Migrating: 2024_01_01_a\nMigrated:  2024_01_01_a (1ms)\nMigrating: 2024_01_01_b\n  SQLSTATE[22012]",
     "2024_01_01_b"),
    ("  2024_01_01_a ..... 3ms DONE\n  2024_01_01_b ..... 1ms FAIL\n", "2024_01_01_b"),
    ("  SQLSTATE[08006] [7] connection to server at \"127.0.0.1\", port 1 failed: Connection refused", None),
    ("In Connector.php line 116:\n  array_diff_key(): Argument #2 must be of type array, string given", None),
])
def test_failed_run_is_blamed_on_the_migration_laravel_named(project: Path, output: str,
                                                            blamed: str | None) -> None:
    result = CommandResult(argv=["php"], returncode=1, output=output)
    assert tool_for(project).started_migration(result, ["2024_01_01_b", "2024_01_01_c"], []) == blamed
