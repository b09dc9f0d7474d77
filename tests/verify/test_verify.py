"""run_verify against a real PostgreSQL: it passes after a good deploy and catches what went wrong."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgwarden.config import load_settings
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.deploy import run_deploy
from pgwarden.pipeline.verify import run_verify
from pgwarden.report.markdown import render_checks_markdown
from tests.deploy.helpers import add_migration, verified_backup, write_project

INIT = """
create table customers (id bigserial primary key, email text not null);
create table orders (id bigserial primary key, customer_id bigint not null, total numeric not null);
insert into customers (email) select 'c' || g || '@example.com' from generate_series(1, 200) g;
insert into orders (customer_id, total) select 1 + g % 200, g from generate_series(1, 400) g;
"""
ADD_NOTE = "alter table orders add column note text;\ndelete from orders where id > 300;\n"


@pytest.fixture
def deployed(db, tmp_path: Path):
    """A database with INIT applied, a backup, then ADD_NOTE deployed with that backup."""
    settings = write_project(tmp_path, {"0001_init": INIT})
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    backup = verified_backup(settings, target)
    add_migration(settings, "0002_add_note", ADD_NOTE)
    assert run_deploy(settings, target, backup_id=backup.id).ok
    return settings, target, backup


def names(result) -> dict[str, object]:
    return {c.name: c for c in result.checks}


def test_verify_passes_after_a_good_deploy(deployed, db) -> None:
    settings, target, backup = deployed
    result = run_verify(settings, target)
    assert result.ok, [c for c in result.checks if not c.ok]
    assert result.details["backup_id"] == backup.id  # taken from the last deploy
    checks = names(result)
    # orders was changed by the migration (rows deleted on purpose): not compared.
    assert "not compared (changed by the migrations): public.orders" in checks["row counts match the backup"].detail
    assert {r["table"] for r in result.details["row_counts"]} == {"public.customers"}
    assert "| ✅ | every migration applied |" in render_checks_markdown(result)


def test_verify_catches_a_missing_migration(deployed) -> None:
    settings, target, _ = deployed
    add_migration(settings, "0003_not_applied", "select 1;\n")
    result = run_verify(settings, target)
    assert not result.ok
    assert result.checks[0].name == "every migration applied"
    assert "0003_not_applied" in result.checks[0].detail


def test_verify_catches_an_invalid_index(deployed, db) -> None:
    settings, target, _ = deployed
    db.execute("insert into customers (email) values ('c1@example.com')")
    with pytest.raises(Exception, match="could not create unique index"):
        db.execute("create unique index concurrently customers_email on customers (email)")
    result = run_verify(settings, target)
    assert not result.ok
    first = result.checks[0]
    assert first.name == "no INVALID index" and "customers_email" in first.detail


def test_verify_catches_a_row_count_drop_on_an_untouched_table(deployed, db) -> None:
    settings, target, backup = deployed
    db.execute("delete from customers where id <= 5")  # 2.5%: within the 5% tolerance
    assert run_verify(settings, target).ok
    db.execute("delete from customers where id <= 40")  # 20%
    result = run_verify(settings, target, backup_id=backup.id)
    assert not result.ok
    assert result.checks[0].name == "row counts match the backup"
    assert "public.customers: 200 -> 160 rows (-20.0%)" in result.checks[0].detail


def test_verify_catches_a_lost_primary_key_and_warns_on_not_valid(deployed, db) -> None:
    settings, target, _ = deployed
    db.execute("alter table customers drop constraint customers_pkey")
    db.execute("alter table orders add constraint orders_positive check (total > 0) not valid")
    result = run_verify(settings, target)
    checks = names(result)
    assert not result.ok
    assert not checks["no table lost its primary key"].ok
    assert "public.customers" in checks["no table lost its primary key"].detail
    assert checks["no NOT VALID constraint"].warning and not checks["no NOT VALID constraint"].ok


def test_custom_checks(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT}, extra=(
        "verify:\n  checks:\n"
        "    - {name: customers exist, sql: 'select count(*) > 0 from customers'}\n"
        "    - {name: two hundred customers, sql: 'select count(*) from customers', expect: '200'}\n"
        "    - {name: no negative totals, sql: 'select count(*) = 0 from orders where total > 100'}\n"
        "    - {name: broken query, sql: 'select nope from nowhere'}\n"
        "    - {name: read only, sql: 'delete from customers returning true'}\n"
    ))
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    result = run_verify(settings, target)
    checks = names(result)
    assert checks["customers exist"].ok and checks["two hundred customers"].ok
    assert not checks["no negative totals"].ok and "expected true" in checks["no negative totals"].detail
    assert "query failed" in checks["broken query"].detail
    assert "read-only transaction" in checks["read only"].detail
    assert db.scalar("select count(*) from customers") == 200
    assert [c.name for c in result.checks[:3]] == ["no negative totals", "broken query", "read only"]
    assert not result.ok and result.summary.startswith("3 of")


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_health_urls(db, tmp_path: Path, health_server: str) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT}, extra=(
        f"verify:\n  health_urls: [{health_server}/healthz, {health_server}/down]\n"
        "  health_retries: 1\n  health_timeout: 2s\n"))
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    result = run_verify(settings, target, health_backoff_s=0.05)
    checks = names(result)
    assert checks[f"health {health_server}/healthz"].ok
    down = checks[f"health {health_server}/down"]
    assert not down.ok and "HTTP 503 after 2 attempt(s)" in down.detail
    assert not result.ok


def test_verify_without_any_backup_warns(db, tmp_path: Path) -> None:
    settings = write_project(tmp_path, {"0001_init": INIT})
    (tmp_path / "pgwarden.yml").write_text((tmp_path / "pgwarden.yml").read_text())
    settings = load_settings(tmp_path / "pgwarden.yml")
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    result = run_verify(settings, target)
    assert result.ok
    assert names(result)["row counts match the backup"].warning


def test_verify_catches_an_applied_migration_whose_file_is_gone(deployed) -> None:
    settings, target, _ = deployed
    (settings.migrations_path / "0001_init.sql").unlink()
    result = run_verify(settings, target)
    assert not result.ok
    check = names(result)["every applied migration has its file"]
    assert not check.ok and "0001_init" in check.detail and "deleted or renamed" in check.detail


def test_verify_never_compares_laravels_migrations_table(db, tmp_path: Path) -> None:
    # Laravel records what it applied in `migrations`: bookkeeping that changes with every deploy
    # (and shrinks on a rollback or a squash), not the application's data.
    laravel_history = (
        "create table migrations (id serial primary key, migration text not null, batch int not null);\n"
        "insert into migrations (migration, batch) select 'm' || g, 1 from generate_series(1, 20) g;\n"
    )
    settings = write_project(tmp_path, {"0001_init": INIT + laravel_history})
    target = DatabaseTarget.from_url(db.url)
    assert run_deploy(settings, target, no_backup_reason="setup").ok
    backup = verified_backup(settings, target)
    add_migration(settings, "0002_add_note", "alter table orders add column note text;\n")
    assert run_deploy(settings, target, backup_id=backup.id).ok
    db.execute("delete from migrations where id > 5")
    result = run_verify(settings, target)
    assert result.ok, [c for c in result.checks if not c.ok]
    assert "public.migrations" not in {r["table"] for r in result.details["row_counts"]}
