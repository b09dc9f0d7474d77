"""pgwarden against the real Laravel 8 (Debian's php-laravel-framework) and real PostgreSQL.

Each test drives the real ``php artisan`` of a minimal app with Laravel's stock config
(tests/real/fix_laravel.py), through pgwarden's CLI, and checks what a user would: exit code,
message, the database's tables and rows, Laravel's own history table. Issue #10's Laravel items:
1 limits via PGOPTIONS and no blame for a connection failure, 2 ``--force`` in the plan command,
3 the ``--pretend`` parser, 4 ``$withinTransaction = false``, 5 abbreviated commands, 6 plan never
writes, 7 the history table from config/database.php, 8 hooks in ``migrations.working_directory``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pgwarden.config import load_settings
from pgwarden.tools.laravel import LaravelTool
from tests.fix_cli import CliResult
from tests.fix_pg import TestDatabase
from tests.real.fix_laravel import PGWARDEN_YML, LaravelApp, laravel_url

Cli = Callable[..., CliResult]

CREATE_ORDERS = """
    Schema::create('orders', function (Blueprint $table) {
        $table->id();
        $table->string('email');
    });
    DB::statement("insert into orders (email) select 'u' || g || '@example.com' from generate_series(1, 1000) g");
"""
# 100,000 rows: enough for plan to rate an index build on the table as blocking for a while.
CREATE_BIG_ORDERS = CREATE_ORDERS.replace("1000)", "100000)")
# Anonymous class: Laravel 8's --pretend prints the file name, not a class.
ADD_EMAIL_INDEX = """
    DB::statement('create index orders_email_index on orders (email)');
"""
# A named class whose name is not the file's, and a query over several lines.
ADD_TOTAL = """
    Schema::table('orders', function (Blueprint $table) {
        $table->integer('total')->nullable();
    });
    DB::statement("update orders
set total = 0
where total is null and id < 10");
"""


def deploy(cli: Cli, app: LaravelApp, db: TestDatabase, *args: str) -> CliResult:
    return cli("deploy", "--database-url", db.url, "--no-backup", "--reason", "test", "--format", "json", *args,
               cwd=app.root)


def migrate(app: LaravelApp, db: TestDatabase) -> None:
    """The set-up: real artisan applies what is there, without pgwarden."""
    done = app.artisan("migrate", "--force", url=laravel_url(db.url))
    assert done.returncode == 0, done.stdout + done.stderr


def configure(app: LaravelApp, **migrations: str) -> None:
    """pgwarden.yml with these ``migrations.*`` keys added."""
    keys = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in migrations.items())
    app.config.write_text(PGWARDEN_YML.replace("  path: database/migrations\n", "  path: database/migrations\n" + keys))


def tables(db: TestDatabase) -> set[str]:
    return {r[0] for r in db.execute("select tablename from pg_tables where schemaname = 'public'")}


def no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output, result.output


def test_plan_backup_deploy_status_verify_restore(cli: Cli, laravel_app: LaravelApp, db: TestDatabase) -> None:
    """Items 2 and 3: the stock plan command in production, both --pretend name forms, one flow."""
    app = laravel_app
    app.add("2024_01_01_000001_create_orders_table", CREATE_BIG_ORDERS, class_name="CreateOrdersTable")
    first = deploy(cli, app, db)
    assert first.code == 0, first.output
    app.add("2024_02_01_000002_add_email_index", ADD_EMAIL_INDEX)
    app.add("2024_03_01_000003_add_total_to_orders_table", ADD_TOTAL, class_name="AddTotalToOrdersTable")

    plan = cli("plan", "--database-url", db.url, "--format", "json", cwd=app.root)
    no_traceback(plan)
    report = json.loads(plan.stdout)
    assert [m["name"] for m in report["migrations"]] == [
        "2024_02_01_000002_add_email_index", "2024_03_01_000003_add_total_to_orders_table"]
    assert all((app.root / m["path"]).is_file() for m in report["migrations"])
    rules = {(f["rule"], f["migration"]) for f in report["findings"]}
    # The CREATE INDEX of the anonymous migration on 100,000 rows is reviewed; the multi-line UPDATE
    # stays one statement of its own migration (no syntax error, nothing unavailable).
    assert ("require-concurrent-index", "2024_02_01_000002_add_email_index") in rules
    assert not {rule for rule, _ in rules} & {"syntax-error", "sql-unavailable"}, report["findings"]
    assert plan.code == 3

    backup = cli("backup", "--database-url", db.url, "--format", "json", cwd=app.root)
    assert backup.code == 0, backup.output
    backup_id = json.loads(backup.stdout)["id"]
    applied = cli("deploy", "--database-url", db.url, "--format", "json", cwd=app.root)
    assert applied.code == 0, applied.output
    assert db.scalar("select count(*) from migrations") == 3
    assert db.scalar("select max(batch) from migrations") == 2

    status = cli("status", "--database-url", db.url, "--format", "json", cwd=app.root)
    assert json.loads(status.stdout)["migrations"]["pending"] == [], status.output
    verify = cli("verify", "--database-url", db.url, cwd=app.root)
    assert verify.code == 0, verify.output

    restore = cli("restore", "--database-url", db.url, "--backup-id", backup_id, "--confirm", db.name, cwd=app.root)
    assert restore.code == 0, restore.output
    assert db.scalar("select count(*) from orders") == 100_000
    assert db.scalar("select count(*) from information_schema.columns where table_name = 'orders' "
                     "and column_name = 'total'") == 0
    # Real artisan agrees with what pgwarden restored.
    after = app.artisan("migrate:status", url=laravel_url(db.url))
    assert after.returncode == 0, after.stdout + after.stderr
    assert "| No   | 2024_03_01_000003_add_total_to_orders_table" in after.stdout


def test_plan_parses_laravel_8_pretend_output(laravel_app: LaravelApp, db: TestDatabase) -> None:
    """Item 3 at the adapter: class names map to files, continuation lines stay with their query."""
    app = laravel_app
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    app.add("2024_02_01_000002_add_email_index", ADD_EMAIL_INDEX)
    app.add("2024_03_01_000003_add_total_to_orders_table", ADD_TOTAL, class_name="AddTotalToOrdersTable")
    db.execute("create table migrations (id serial primary key, migration varchar(255) not null, batch int not null)")
    tool = LaravelTool(load_settings(app.config))
    with db.connect() as conn:
        pending = tool.pending(conn)
    assert [m.name for m in pending] == [p.stem for p in sorted(app.migrations.glob("*.php"))]
    by_name = {m.name: m.sql or "" for m in pending}
    assert 'create table "orders"' in by_name["2024_01_01_000001_create_orders_table"]
    assert by_name["2024_02_01_000002_add_email_index"] == "create index orders_email_index on orders (email);\n"
    assert "update orders\nset total = 0\nwhere total is null and id < 10;" in by_name[
        "2024_03_01_000003_add_total_to_orders_table"]
    assert tables(db) == {"migrations"}  # --pretend ran read-only and wrote nothing


def test_limits_reach_laravel_through_pgoptions(cli: Cli, laravel_app: LaravelApp, db: TestDatabase) -> None:
    """Item 1: the stock config dies on a URL with options=; the limits go in PGOPTIONS."""
    app = laravel_app
    app.config.write_text(PGWARDEN_YML + "deploy:\n  lock_timeout: 3s\n  statement_timeout: 7min\n")
    app.add("2024_01_01_000001_record_session", """
        DB::statement("create table seen as select current_setting('lock_timeout') as lock_timeout,
            current_setting('statement_timeout') as statement_timeout,
            current_setting('application_name') as app,
            current_setting('default_transaction_read_only') as read_only");
    """)
    result = deploy(cli, app, db)
    assert result.code == 0, result.output
    assert db.execute("select * from seen") == [("3s", "7min", "pgwarden-migrate", "off")]


def test_a_tool_that_cannot_connect_blames_no_migration(cli: Cli, laravel_app: LaravelApp, db: TestDatabase) -> None:
    """Item 1: an app whose config/database.php ignores DATABASE_URL and points at no server."""
    app = laravel_app
    config = app.root / "config/database.php"
    config.write_text(config.read_text().replace("'url' => env('DATABASE_URL'),", "'url' => null,")
                      .replace("env('DB_PORT', '5432')", "'1'"))
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    result = deploy(cli, app, db)
    no_traceback(result)
    assert result.code == 1
    document = json.loads(result.stdout)
    assert "could not connect" in document["summary"], document["summary"]
    assert "migration 2024_01_01_000001_create_orders_table failed" not in result.output
    assert tables(db) <= {"pgwarden_history", "pgwarden_unfinished", "pgwarden_deploys"}


def test_non_atomic_migration_failing_half_way_is_unknown(cli: Cli, laravel_app: LaravelApp, db: TestDatabase) -> None:
    """Item 4: $withinTransaction = false, fails after its first statement: status, verify, deploy say so."""
    app = laravel_app
    name = "2024_01_01_000001_build_leftovers"
    app.add(name, """
        DB::statement('create table leftovers (id int)');
        DB::statement('select 1 / 0');
    """, within_transaction=False)
    first = deploy(cli, app, db)
    no_traceback(first)
    assert first.code == 1
    assert "leftovers" in tables(db)  # Laravel left the first statement applied
    assert db.scalar("select count(*) from migrations") == 0  # and recorded nothing

    status = cli("status", "--database-url", db.url, "--format", "json", cwd=app.root)
    assert json.loads(status.stdout)["migrations"]["unknown"] == [name], status.output
    verify = cli("verify", "--database-url", db.url, cwd=app.root)
    assert verify.code == 1 and name in verify.output, verify.output
    again = deploy(cli, app, db)
    no_traceback(again)
    assert again.code == 4, again.output
    assert name in again.output and "pgwarden resolve" in again.output


@pytest.mark.parametrize("spelling", ["mi:fr", "migrate:fr", "db:w"])
def test_abbreviated_destructive_commands_are_refused(
    cli: Cli, laravel_app: LaravelApp, db: TestDatabase, spelling: str
) -> None:
    """Item 5: Symfony runs any unambiguous abbreviation; the production guard sees through it."""
    app = laravel_app
    helped = app.artisan("help", spelling, url=laravel_url(db.url))
    assert helped.returncode == 0, helped.stderr
    assert ("Drop all tables" in helped.stdout), helped.stdout  # what real artisan would run
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    migrate(app, db)
    configure(app, command=f"php artisan {spelling} --force")
    app.add("2024_02_01_000002_add_email_index", ADD_EMAIL_INDEX)
    refused = deploy(cli, app, db, "--environment", "production")
    no_traceback(refused)
    assert refused.code == 4, refused.output
    assert db.scalar("select count(*) from orders") == 1000
    assert db.scalar("select count(*) from migrations") == 1


@pytest.mark.parametrize(("plan_command", "code", "says"), [
    ("php artisan migrate:fresh --force", 4, "migrate:fresh"),
    ("php artisan mi:fr --force", 4, "migrate:fresh"),
    ("php artisan migrate --force", 2, "without --pretend"),
    # Hidden from the static checks: the read-only session is what stops it.
    ("sh -c 'php artisan \"$0\" --force' migrate", 1, "read-only"),
])
def test_plan_never_writes(cli: Cli, laravel_app: LaravelApp, db: TestDatabase,
                           plan_command: str, code: int, says: str) -> None:
    """Item 6: a plan_command that would write is refused, or cannot write."""
    app = laravel_app
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    migrate(app, db)
    app.add("2024_02_01_000002_add_email_index", ADD_EMAIL_INDEX)
    configure(app, plan_command=plan_command)
    result = cli("plan", "--database-url", db.url, cwd=app.root)
    no_traceback(result)
    assert result.code == code, result.output
    assert says in result.output
    assert db.scalar("select count(*) from orders") == 1000
    assert db.execute("select migration from migrations") == [("2024_01_01_000001_create_orders_table",)]
    assert db.scalar("select count(*) from pg_indexes where indexname = 'orders_email_index'") == 0


def test_plan_against_a_database_without_history_writes_nothing(
    cli: Cli, laravel_app: LaravelApp, db: TestDatabase
) -> None:
    """Item 6: --pretend would create the migrations table; plan lists the files and leaves it be."""
    app = laravel_app
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    result = cli("plan", "--database-url", db.url, "--format", "json", cwd=app.root)
    no_traceback(result)
    assert [m["name"] for m in json.loads(result.stdout)["migrations"]] == ["2024_01_01_000001_create_orders_table"]
    assert tables(db) == set()


def test_history_table_is_read_from_the_app(cli: Cli, laravel_app: LaravelApp, db: TestDatabase) -> None:
    """Item 7: 'migrations' => 'schema_migrations' in config/database.php."""
    app = laravel_app
    config = app.root / "config/database.php"
    config.write_text(config.read_text().replace("'migrations' => 'migrations'", "'migrations' => 'schema_migrations'"))
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    migrate(app, db)
    assert cli("backup", "--database-url", db.url, cwd=app.root).code == 0
    app.add("2024_02_01_000002_add_email_index", ADD_EMAIL_INDEX)
    app.add("2024_03_01_000003_add_total_to_orders_table", ADD_TOTAL, class_name="AddTotalToOrdersTable")
    result = cli("deploy", "--database-url", db.url, "--format", "json", cwd=app.root)
    assert result.code == 0, result.output
    assert "applied 2 migration(s)" in json.loads(result.stdout)["summary"]
    assert db.scalar("select count(*) from schema_migrations") == 3
    assert "migrations" not in tables(db)
    status = cli("status", "--database-url", db.url, "--format", "json", cwd=app.root)
    assert json.loads(status.stdout)["migrations"]["pending"] == [], status.output
    verify = cli("verify", "--database-url", db.url, cwd=app.root)
    assert verify.code == 0, verify.output
    # the tool's history is bookkeeping, like Laravel's default table: not a table whose rows "grew"
    assert "schema_migrations" not in verify.output, verify.output


def test_hooks_run_in_the_working_directory(cli: Cli, laravel_app: LaravelApp, db: TestDatabase,
                                            tmp_path: Path) -> None:
    """Item 8: pgwarden.yml above the app, migrations.working_directory naming it, artisan hooks."""
    app = laravel_app
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    config = tmp_path / "pgwarden.yml"
    config.write_text(
        "migrations:\n  tool: laravel\n  path: app/database/migrations\n  working_directory: app\n"
        "backup:\n  store: file://./backups\n"
        "deploy:\n  hooks:\n    pre: php artisan down --no-ansi\n    post: php artisan up --no-ansi\n"
    )
    result = cli("deploy", "--config", str(config), "--database-url", db.url, "--no-backup", "--reason", "t",
                 "--format", "json", cwd=tmp_path)
    assert result.code == 0, result.output
    assert "Could not open input file" not in result.output
    assert not (app.root / "storage/framework/down").exists()  # down, then up again
    assert db.scalar("select count(*) from orders") == 1000


def test_fixture_is_the_real_laravel(laravel_app: LaravelApp) -> None:
    version = subprocess.run(["php", "artisan", "--version", "--no-ansi"], cwd=laravel_app.root,
                             capture_output=True, text=True, check=True).stdout
    assert version.strip().startswith("Laravel Framework 8."), version


def test_lock_timeout_and_password_with_real_artisan(
    cli: Cli, laravel_app: LaravelApp, secret_db: TestDatabase
) -> None:
    """A password-login role (the password only in the child's environment) and a lock held by another
    session: Laravel's session gives up after lock_timeout, the report says so and names the migration."""
    app = laravel_app
    db = secret_db
    app.config.write_text(PGWARDEN_YML + "deploy:\n  lock_timeout: 200ms\n  retries: 0\n")
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    migrate(app, db)
    app.add("2024_02_01_000002_add_total", ADD_TOTAL, class_name="AddTotal")
    holder = db.connect(autocommit=False)
    try:
        holder.execute("lock table orders in access share mode")
        result = deploy(cli, app, db)
    finally:
        holder.rollback()
        holder.close()
    no_traceback(result)
    assert result.code == 1, result.output
    document = json.loads(result.stdout)
    assert "55P03" in document["summary"], document["summary"]
    assert "2024_02_01_000002_add_total" in document["summary"]
    password = db.url.split(":")[2].split("@")[0]
    assert password not in result.output
    assert db.scalar("select count(*) from migrations") == 1


def test_plan_of_a_column_change_without_doctrine_says_what_is_missing(
    cli: Cli, laravel_app: LaravelApp, db: TestDatabase
) -> None:
    """Laravel 8 renders ->change() only with doctrine/dbal, also for --pretend: plan says so."""
    app = laravel_app
    app.add("2024_01_01_000001_create_orders_table", CREATE_ORDERS, class_name="CreateOrdersTable")
    migrate(app, db)
    app.add("2024_02_01_000002_widen_email", """
        Schema::table('orders', function (Blueprint $table) {
            $table->string('email', 500)->change();
        });
    """, class_name="WidenEmail")
    result = cli("plan", "--database-url", db.url, cwd=app.root)
    no_traceback(result)
    assert result.code == 1, result.output
    assert "doctrine/dbal" in result.output
