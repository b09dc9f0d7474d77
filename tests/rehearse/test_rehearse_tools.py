"""``pgwarden rehearse`` through the real tools: Prisma 6.19.3 (its bundled WebAssembly schema engine
through @prisma/adapter-pg) and Laravel 8.83 (Debian's php-laravel-framework), as tests/real/ runs them.

For each tool, one database of 300,000 rows that the tool itself built (its first migration), a real
``pgwarden backup`` into a file:// store, and four pending migrations in the tool's own form:
(a) a backfill inside the ALTER's transaction (the lock held through it is measured), (b) a column type
change (the rewrite is reported), (c) a unique index over duplicated values (fails with 23505, found in
the tool's own output; the later migration is not-run, exit 1). Afterwards the target is unchanged
(a checksum over its rows), the scratch copy is gone, and the duplicated values (production data)
appear nowhere: not in stdout, stderr or the audit log.

The tests skip with a reason when the tool is missing (scripts/provision-prisma, scripts/provision-laravel).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pgwarden.audit import read_audit_log
from pgwarden.rehearsal import RehearsalReport
from tests.fix_pg import PgServer, TestDatabase, _fresh_database
from tests.real import fix_laravel, fix_prisma
from tests.real.fix_laravel import LaravelApp, laravel_url
from tests.real.fix_prisma import PrismaProject
from tests.rehearse.test_rehearse import fingerprint, scratch_databases

prisma_runtime = fix_prisma.prisma_runtime
laravel_skeleton = fix_laravel.laravel_skeleton

ROWS = 300_000
#: Every value of ``orders.code`` starts so, each one 300 times: what must never leave the copy. Each is
#: long, so that a tool wrapping its output at 80 columns (Laravel's console) puts the rest of a value on
#: lines of its own: ``FILLER`` must not show up either.
DUPLICATED = "dupkey-"
FILLER = "wrapped" * 12

BUILD_ORDERS = f"""\
CREATE TABLE orders (id bigint PRIMARY KEY, ref int NOT NULL, customer_id int NOT NULL, amount int NOT NULL,
    code text NOT NULL);
INSERT INTO orders SELECT g, g, g % 1000, g % 97, '{DUPLICATED}' || (g % 1000) || '-{FILLER}'
    FROM generate_series(1, {ROWS}) g;
CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;
"""

#: The pending migrations' names, without the tool's prefix, in order; what each does is in the tool's form.
STEPS = ("backfill", "widen_ref", "unique_code", "later")


@dataclass
class Rehearsed:
    tool: str
    db: TestDatabase
    project: Path
    names: list[str]
    backup_id: str
    before: tuple[Any, ...]
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def migration(self, step: str) -> dict[str, Any]:
        name = self.names[STEPS.index(step)]
        return next(m for m in self.report["migrations"] if m["name"] == name)

    @property
    def audit_text(self) -> str:
        return (self.project / ".pgwarden" / "audit.jsonl").read_text()


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> Any:
    from tests.fix_cli import _run_in_process

    return _run_in_process(list(args), cwd=cwd, env=env)


def _rehearse(tool: str, db: TestDatabase, project: Path, names: list[str], env: dict[str, str]) -> Rehearsed:
    """A real backup of the target, then ``pgwarden rehearse --format json`` in ``project``."""
    env = {**env, "DATABASE_URL": db.url}
    made = _cli("backup", "--format", "json", cwd=project, env=env)
    assert made.code == 0, made.output
    before = fingerprint(db)
    done = _cli("rehearse", "--format", "json", cwd=project, env=env)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"rehearse printed no JSON (exit {done.code}):\n{done.output}") from None
    return Rehearsed(tool, db, project, names, json.loads(made.stdout)["id"], before, done.code, done.stdout,
                     done.stderr, report)


# --- Prisma ------------------------------------------------------------------------------------

PRISMA_INIT = "20250101000000_init"
PRISMA_PENDING = {
    # The adapter engine splits migration.sql on ";" and runs the pieces on one connection without a
    # transaction of its own: the file's BEGIN/COMMIT make the ALTER and the backfill one transaction.
    "20250102000000_backfill": "BEGIN;\nALTER TABLE orders ADD COLUMN amount_cents bigint;\n"
                               "UPDATE orders SET amount_cents = amount * 100;\nCOMMIT;\n",
    "20250103000000_widen_ref": "ALTER TABLE orders ALTER COLUMN ref TYPE bigint;\n",
    "20250104000000_unique_code": "CREATE UNIQUE INDEX orders_code_key ON orders (code);\n",
    "20250105000000_later": "CREATE TABLE later (id int);\n",
}


def _prisma_project(runtime: Path, root: Path) -> PrismaProject:
    """The project tests/real/fix_prisma.py's ``prisma_project`` builds, at ``root`` (module scope)."""
    (root / "prisma" / "migrations").mkdir(parents=True)
    (root / "node_modules").symlink_to(runtime / "node_modules")
    (root / "package.json").write_text('{"private": true}\n')
    (root / "prisma.config.ts").write_text(fix_prisma.CONFIG_TS)
    (root / "prisma" / "schema.prisma").write_text(fix_prisma.SCHEMA)
    (root / "prisma" / "migrations" / "migration_lock.toml").write_text('provider = "postgresql"\n')
    (root / "pgwarden.yml").write_text(fix_prisma.PGWARDEN_YML)
    return PrismaProject(root)


@pytest.fixture(scope="module")
def prisma_rehearsed(prisma_runtime: Path, pg_server: PgServer,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsed]:
    project = _prisma_project(prisma_runtime, tmp_path_factory.mktemp("prisma") / "app")
    with _fresh_database(pg_server) as db:
        project.add(PRISMA_INIT, BUILD_ORDERS)
        project.prisma(db.url, "migrate", "deploy", check=True)  # the tool built production
        assert db.scalar("select count(*) from orders") == ROWS
        for name, sql in PRISMA_PENDING.items():
            project.add(name, sql)
        yield _rehearse("prisma", db, project.root, list(PRISMA_PENDING), fix_prisma.prisma_env())


# --- Laravel -----------------------------------------------------------------------------------

LARAVEL_INIT = "2025_01_01_000001_create_orders_table"
LARAVEL_PENDING = {
    # Laravel runs each migration in a transaction of its own on PostgreSQL ($withinTransaction).
    "2025_01_02_000002_backfill_amount_cents": """
        Schema::table('orders', function (Blueprint $table) {
            $table->bigInteger('amount_cents')->nullable();
        });
        DB::statement('update orders set amount_cents = amount * 100');
    """,
    # ->change() needs doctrine/dbal, which Debian's Laravel does not bring: the statement itself.
    "2025_01_03_000003_widen_ref": "DB::statement('alter table orders alter column ref type bigint');",
    "2025_01_04_000004_unique_code": """
        Schema::table('orders', function (Blueprint $table) {
            $table->unique('code');
        });
    """,
    "2025_01_05_000005_create_later_table": """
        Schema::create('later', function (Blueprint $table) {
            $table->id();
        });
    """,
}


@pytest.fixture(scope="module")
def laravel_rehearsed(laravel_skeleton: Path, pg_server: PgServer,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsed]:
    root = tmp_path_factory.mktemp("laravel") / "app"
    shutil.copytree(laravel_skeleton, root)
    (root / "pgwarden.yml").write_text(fix_laravel.PGWARDEN_YML)
    app = LaravelApp(root)
    with _fresh_database(pg_server) as db:
        app.add(LARAVEL_INIT, f"DB::unprepared(<<<'SQL'\n{BUILD_ORDERS}SQL\n);", class_name="CreateOrdersTable")
        built = app.artisan("migrate", "--force", url=laravel_url(db.url))  # the tool built production
        assert built.returncode == 0, built.stdout + built.stderr
        assert db.scalar("select count(*) from orders") == ROWS
        for name, body in LARAVEL_PENDING.items():
            app.add(name, body)
        yield _rehearse("laravel", db, root, list(LARAVEL_PENDING), {})


@pytest.fixture(params=["prisma", "laravel"])
def rehearsed(request: pytest.FixtureRequest) -> Rehearsed:
    value: Rehearsed = request.getfixturevalue(f"{request.param}_rehearsed")
    return value


# --- the tests, for each tool --------------------------------------------------------------------


def test_the_report_has_every_migration_in_order(rehearsed: Rehearsed) -> None:
    assert rehearsed.code == 1, rehearsed.stderr
    report = rehearsed.report
    assert report["tool"] == rehearsed.tool and report["backup_id"] == rehearsed.backup_id
    assert report["database"] == rehearsed.db.name and report["dropped"] is True
    assert [m["name"] for m in report["migrations"]] == rehearsed.names
    assert [m["status"] for m in report["migrations"]] == ["applied", "applied", "failed", "not-run"], report
    assert RehearsalReport.from_json(report).to_json() == report


def test_the_lock_held_through_the_backfill_is_measured(rehearsed: Rehearsed) -> None:
    backfill = rehearsed.migration("backfill")
    lock = next(lk for lk in backfill["locks"] if lk["table"] == "public.orders")
    assert lock["mode"] == "AccessExclusiveLock", backfill
    interval = rehearsed.report["sample_interval_s"]
    assert backfill["duration_s"] > 20 * interval, backfill
    assert lock["held_s"] >= 0.8 * backfill["duration_s"], backfill
    assert lock["held_s"] <= backfill["duration_s"] + 0.25, backfill
    assert backfill["rewritten"] == [] and backfill["measured_with"] == []


def test_the_type_change_reports_the_rewrite(rehearsed: Rehearsed) -> None:
    widen = rehearsed.migration("widen_ref")
    assert widen["rewritten"] == ["public.orders"], widen
    assert widen["locks"][0]["table"] == "public.orders" and widen["locks"][0]["mode"] == "AccessExclusiveLock"
    assert widen["measured_with"] == []


def test_the_unique_index_fails_with_23505_and_the_later_one_does_not_run(rehearsed: Rehearsed) -> None:
    failed = rehearsed.migration("unique_code")
    assert failed["status"] == "failed" and failed["sqlstate"] == "23505", failed
    # Laravel prints PostgreSQL's message; Prisma's driver adapter only the kind of error and the index.
    expected = {"laravel": 'could not create unique index "orders_code_unique"',
                "prisma": "Unique constraint failed: orders_code_key"}
    assert failed["error"] == expected[rehearsed.tool], failed["error"]
    later = rehearsed.migration("later")
    assert later["status"] == "not-run" and later["duration_s"] is None and later["locks"] == []


def test_the_target_is_unchanged_and_the_scratch_copy_is_gone(rehearsed: Rehearsed) -> None:
    assert fingerprint(rehearsed.db) == rehearsed.before
    assert rehearsed.db.scalar("select to_regclass('later')") is None
    assert scratch_databases(rehearsed.db.server) == []


#: What a leak looks like: the values, their wrapped tails, PostgreSQL's DETAIL line.
LEAK = re.compile(rf"{DUPLICATED}|(?:wrapped){{2,}}|DETAIL:  |is duplicated")


def test_no_production_value_leaves_the_copy(rehearsed: Rehearsed) -> None:
    leaks = {}
    for where, text in (("stdout", rehearsed.stdout), ("stderr", rehearsed.stderr),
                        ("audit log", rehearsed.audit_text)):
        found = [text[max(0, m.start() - 80):m.end() + 40] for m in LEAK.finditer(text)]
        if found:
            leaks[where] = found
    assert leaks == {}, "\n".join(f"{where}: {snippet!r}" for where, found in leaks.items() for snippet in found)


def test_the_audit_log_names_the_scratch_copy_and_its_lifetime(rehearsed: Rehearsed) -> None:
    lines = read_audit_log(rehearsed.project / ".pgwarden" / "audit.jsonl")
    drop = next(line for line in lines if line["action"] == "rehearse.drop")
    assert drop["scratch_database"] == rehearsed.report["scratch_database"] and drop["outcome"] == "succeeded"


def test_a_tool_child_never_wraps_at_an_inherited_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Laravel's console wraps its error box at COLUMNS: at 80 the index's name leaves the error line
    and a DETAIL goes on over lines the masking must then follow. pytest-xdist's workers (and many
    shells) export COLUMNS=80: the child gets 1000 whatever was inherited."""
    from pgwarden.pg.connection import DatabaseTarget
    from pgwarden.tools.base import SessionLimits
    from pgwarden.tools.external import child_environment

    monkeypatch.setenv("COLUMNS", "80")
    env = child_environment(DatabaseTarget({"user": "app", "dbname": "shop", "host": "/run/pg"}),
                            SessionLimits(2, 60), url_options=False)
    assert env["COLUMNS"] == "1000"
