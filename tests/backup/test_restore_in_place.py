"""In-place restore after a deploy: the backup's schemas hold exactly the backup, atomically.

The responder's scenario: a backup, then a deploy that adds objects depending on backed-up ones
(a table with a foreign key to ``customers``, a view, an enum, a function, an index), then the
damage. Restoring the backup in place must bring back exactly the backup's objects and rows,
drop and name what the deploy added, leave other schemas alone, and fail as a whole (nothing
changed) when anything goes wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgwarden.errors import OperationFailed
from pgwarden.pg import binaries
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.inplace import parse_toc
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup
from pgwarden.pipeline.verify import run_verify
from tests.backup.helpers import create_rich, file_settings, fingerprint, make_shims

ROLLED_BACK = "nothing was changed: the restore ran in one transaction and was rolled back"

# What a deploy after the backup adds, all of it depending on backed-up objects.
DEPLOY = """
create table loyalty_points (customer_id bigint primary key references customers(id), points int not null);
insert into loyalty_points select id, id * 10 from customers where id <= 100;
create view billing.big_invoices as select * from billing.invoices where amount > 100;
create type tier as enum ('bronze', 'gold');
alter table customers add column tier tier;
create function billing.invoice_total(c bigint) returns numeric language sql
    as 'select sum(amount) from billing.invoices where customer_id = c';
create index customers_created_idx on customers (created_at);
create schema reporting;
create table reporting.kept (x int);
insert into reporting.kept values (1), (2);
create view reporting.customer_emails as select email from customers;
"""

DAMAGE = "delete from billing.invoices where id > 10; update customers set mood = 'sad'"


def catalog(url: str) -> dict[str, Any]:
    """Every relation, type, routine and column outside the system schemas and ``reporting``."""
    with psycopg.connect(url, autocommit=True) as conn:
        q = conn.execute
        return {
            "relations": q("select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n "
                           "on n.oid = c.relnamespace where n.nspname not in ('pg_catalog', 'information_schema', "
                           "'pg_toast', 'reporting') order by 1, 2").fetchall(),
            "types": q("select n.nspname, t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace "
                       "where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', "
                       "'reporting') order by 1, 2").fetchall(),
            "routines": q("select p.oid::regprocedure::text from pg_proc p join pg_namespace n "
                          "on n.oid = p.pronamespace where n.nspname not in ('pg_catalog', 'information_schema') "
                          "order by 1").fetchall(),
            "columns": q("select table_schema, table_name, column_name, data_type from information_schema.columns "
                         "where table_schema not in ('pg_catalog', 'information_schema', 'reporting') "
                         "order by 1, 2, 3").fetchall(),
            "kept": q("select to_regclass('reporting.kept') is not null").fetchone(),
        }


def everything(url: str) -> dict[str, Any]:
    state = catalog(url)
    with psycopg.connect(url, autocommit=True) as conn:
        state["customers"] = conn.execute(
            "select md5(string_agg(c::text, ',' order by id)) from customers c").fetchone()
        state["invoices"] = conn.execute(
            "select md5(string_agg(i::text, ',' order by id)) from billing.invoices i").fetchone()
        if state["kept"][0]:
            state["kept_rows"] = conn.execute("select count(*) from reporting.kept").fetchone()
        state["los"] = conn.execute("select count(*) from pg_largeobject_metadata").fetchone()
    return state


@pytest.fixture(autouse=True)
def _fresh_binary_cache() -> None:
    binaries._probe.cache_clear()


def _deploy_and_restore(database, tmp_path: Path, dump_format: str) -> None:
    with database.connect() as conn:
        create_rich(conn)
    before = fingerprint(database.url)
    objects_before = catalog(database.url)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(database.url)
    manifest = take_backup(settings, target, dump_format=dump_format)
    with database.connect() as conn:
        conn.execute(DEPLOY)
        conn.execute(DAMAGE)
    lines: list[str] = []
    result = restore_backup(settings, target, manifest.id, confirm=database.name, progress=lines.append)
    assert result.ok, result.to_json()
    assert fingerprint(database.url) == before
    after = catalog(database.url)
    # The backup's schemas hold exactly the backup's objects; reporting (not in the backup) keeps its
    # table, and loses the view that depended on a backed-up table (CASCADE, named in the result).
    assert {k: v for k, v in after.items() if k != "kept"} == {k: v for k, v in objects_before.items() if k != "kept"}
    assert database.scalar("select count(*) from reporting.kept") == 2
    assert database.scalar("select to_regclass('reporting.customer_emails')") is None
    dropped = result.details["dropped_not_in_backup"]
    assert set(dropped) == {
        "table public.loyalty_points", "view billing.big_invoices", "type public.tier",
        "routine billing.invoice_total(bigint)", "index public.customers_created_idx",
    }
    assert result.details["dropped_outside_backup_schemas"] == ["view reporting.customer_emails"]
    text = "\n".join(lines)
    assert "objects not in the backup will be dropped: " in text
    assert "dropped objects not in the backup: " in text and "table public.loyalty_points" in text
    assert any(c.name == "objects not in the backup" and "public.loyalty_points" in c.detail for c in result.checks)


@pytest.mark.parametrize("dump_format", ["custom", "directory"])
def test_in_place_restore_after_deploy_is_exactly_the_backup(db, tmp_path: Path, dump_format: str) -> None:
    _deploy_and_restore(db, tmp_path, dump_format)


def test_in_place_restore_after_deploy_on_older_server(pg15, tmp_path: Path) -> None:
    """pg_dump 18 backup of PostgreSQL 15, restored in place into 15 after a deploy."""
    _deploy_and_restore(pg15, tmp_path, "custom")


@pytest.mark.parametrize("dump_format", ["custom", "directory"])
def test_failure_at_the_very_end_changes_nothing(db, tmp_path: Path, monkeypatch, dump_format: str) -> None:
    """The archive's SQL fails after everything was dropped and reloaded: all of it is rolled back."""
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target, dump_format=dump_format)
    with db.connect() as conn:
        conn.execute(DEPLOY)
        conn.execute(DAMAGE)
    damaged = everything(db.url)
    # A pg_restore whose SQL fails late: after the drops, the tables and all their rows, at an index.
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log", {
        "pg_restore": 'case " $* " in *" --file=- "*) set -o pipefail; "$REAL" "$@" | '
                      "sed 's/^CREATE INDEX customers_meta_idx/SELECT 1\\/0; &/'; exit $?;; esac\n"
                      'exec "$REAL" "$@"',
    })
    monkeypatch.setenv("PGWARDEN_PG_BIN", str(shims))
    with pytest.raises(OperationFailed) as failure:
        restore_backup(settings, target, manifest.id, confirm=db.name)
    assert ROLLED_BACK in str(failure.value)
    assert "division by zero" in str(failure.value)
    assert everything(db.url) == damaged
    assert db.scalar("select count(*) from loyalty_points") == 100


def test_object_owned_by_another_role_refuses_before_touching_anything(secret_db, tmp_path: Path) -> None:
    with secret_db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(secret_db.url)
    manifest = take_backup(settings, target)
    with secret_db.connect() as conn:
        conn.execute(DAMAGE)
    # A superuser adds a table to the app's schema: the app role cannot drop it.
    app_role = secret_db.scalar("select current_user")
    with psycopg.connect(secret_db.server.url_for(secret_db.name), autocommit=True) as admin:
        admin.execute("create table public.audit_by_dba (x int); insert into public.audit_by_dba values (7)")
        admin.execute(f'grant select on public.audit_by_dba to "{app_role}"')
        owner = admin.execute("select current_user").fetchone()[0]
    damaged = everything(secret_db.url)
    with pytest.raises(OperationFailed, match="does not own") as failure:
        restore_backup(settings, target, manifest.id, confirm=secret_db.name)
    assert f"table public.audit_by_dba (owner {owner})" in str(failure.value)
    assert "nothing was changed" in str(failure.value)
    assert everything(secret_db.url) == damaged
    assert secret_db.scalar("select x from public.audit_by_dba") == 7


def test_parse_toc_names_objects_like_the_catalog() -> None:
    listing = """;
; Archive created at 2026-11-22 00:59:25 UTC
;
863; 1247 16398 TYPE public order_status shop_app
5; 2615 2200 SCHEMA - billing shop_app
221; 1259 16408 TABLE public customers shop_app
2615; 0 16408 TABLE DATA public customers shop_app
2632; 0 0 SEQUENCE SET public customers_id_seq shop_app
2628; 0 0 SEQUENCE OWNED BY public customers_id_seq shop_app
220; 1259 16407 SEQUENCE public customers_id_seq shop_app
230; 1255 16500 FUNCTION billing total(bigint, public.mood) shop_app
231; 1259 16501 MATERIALIZED VIEW billing monthly shop_app
2454; 2606 16420 CONSTRAINT public customers customers_pkey shop_app
3000; 0 0 COMMENT - EXTENSION pgcrypto
6; 2615 16600 SCHEMA - Odd "Q" s shop_app
7; 2615 16601 SCHEMA - Odd shop_app
240; 1259 16602 TABLE Odd "Q" s .t a b shop_app
241; 1259 16603 TABLE Odd q shop_app
"""
    contents = parse_toc(listing)
    assert contents.schemas == {"public", "billing", 'Odd "Q" s', "Odd"}
    assert contents.objects == {
        ("type", "public.order_status"), ("table", "public.customers"), ("sequence", "public.customers_id_seq"),
        ("routine", "billing.total(bigint, public.mood)"), ("materialized view", "billing.monthly"),
        ("table", 'Odd "Q" s..t a b'), ("table", "Odd.q"),
    }


def test_restoring_sessions_get_the_bulk_load_settings(db, tmp_path: Path, monkeypatch) -> None:
    """PGOPTIONS reaches the programs that open the restoring session: psql in place, pg_restore --into."""
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    log = tmp_path / "env.log"
    logging = f'echo "$(basename "$0") PGOPTIONS=$PGOPTIONS" >> "{log}"\nexec "$REAL" "$@"'
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log", {"psql": logging, "pg_restore": logging})
    monkeypatch.setenv("PGWARDEN_PG_BIN", str(shims))
    assert restore_backup(settings, target, manifest.id, confirm=db.name).ok
    new_db = db.name + "_r"
    try:
        assert restore_backup(settings, target, manifest.id, into=new_db).ok
    finally:
        with db.server.admin() as conn:
            conn.execute(f'drop database if exists "{new_db}" with (force)')
    lines = log.read_text().splitlines()
    for program in ("psql", "pg_restore"):
        assert any(line.startswith(f"{program} ") and "maintenance_work_mem=512MB" in line
                   and "synchronous_commit=off" in line for line in lines), lines


# Tables of every shape pg_dump loads differently: a hash-partitioned table on an enum (pg_dump loads
# it through the partitioned root, where COPY FREEZE is not allowed), a range partition (loaded
# through the partition itself), an unlogged table, quoted names.
SHAPES = """
create type color as enum ('red', 'green', 'blue');
create table paint (c color not null, n int) partition by hash (c);
create table paint0 partition of paint for values with (modulus 2, remainder 0);
create table paint1 partition of paint for values with (modulus 2, remainder 1);
create table visits (d date not null, n int) partition by range (d);
create table visits_2026 partition of visits for values from ('2026-01-01') to ('2027-01-01');
create unlogged table scratch (a int);
create schema "Odd ""Q"" s";
create table "Odd ""Q"" s".".t a b" (a int);
insert into paint select (array['red', 'green', 'blue'])[1 + i % 3]::color, i from generate_series(1, 300) i;
insert into visits select '2026-01-01'::date + i % 300, i from generate_series(1, 500) i;
insert into scratch select generate_series(1, 50);
insert into "Odd ""Q"" s".".t a b" values (1), (2);
"""
SHAPE_ROWS = ("select (select md5(string_agg(p::text, ',' order by n)) from paint p), "
              "(select md5(string_agg(v::text, ',' order by n)) from visits v), "
              "(select count(*) from scratch), (select count(*) from \"Odd \"\"Q\"\" s\".\".t a b\")")
FROZEN_TABLES = ("public.customers", "billing.invoices", "public.visits_2026", "public.scratch",
                 '"Odd ""Q"" s".".t a b"')


def _shape_rows(db) -> Any:
    with db.connect() as conn:
        return conn.execute(SHAPE_ROWS).fetchone()


def _backup_shapes_then_damage(db, tmp_path: Path) -> tuple[Any, Any, DatabaseTarget, str]:
    with db.connect() as conn:
        create_rich(conn)
        conn.execute(SHAPES)
    before = (fingerprint(db.url), _shape_rows(db))
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    with db.connect() as conn:
        conn.execute(DAMAGE)
        conn.execute("delete from paint where n > 10; delete from visits; truncate scratch")
    return before, settings, target, manifest.id


def _frozen_pages(db, table: str) -> tuple[int, int]:
    """(all-frozen pages, pages) of ``table``, from the server's visibility map."""
    with db.connect() as conn:
        conn.execute("create extension if not exists pg_visibility")
        row = conn.execute(f"select (select all_frozen from pg_visibility_map_summary('{table}'::regclass)), "
                           f"pg_relation_size('{table}'::regclass) / current_setting('block_size')::int").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_in_place_loads_the_tables_it_creates_frozen(db, tmp_path: Path) -> None:
    """COPY FREEZE where the server allows it: restored pages need no later hint-bit writes or freezing."""
    before, settings, target, backup_id = _backup_shapes_then_damage(db, tmp_path)
    lines: list[str] = []
    result = restore_backup(settings, target, backup_id, confirm=db.name, progress=lines.append)
    assert result.ok, result.to_json()
    assert (fingerprint(db.url), _shape_rows(db)) == before
    for table in FROZEN_TABLES:
        frozen, pages = _frozen_pages(db, table)
        assert 0 < frozen <= pages, f"{table}: none of its {pages} pages frozen"
    # Loaded through the partitioned table (no FREEZE there): ordinary pages.
    assert _frozen_pages(db, "public.paint0")[0] == _frozen_pages(db, "public.paint1")[0] == 0
    assert "tables loaded with COPY FREEZE" in result.details["method"]
    assert not any("refused COPY FREEZE" in line for line in lines)
    # Every table came back, and nothing is reported missing, extra or dropped that was in the backup
    # (the hash partitions' rows moved between partitions: new enum OIDs hash differently).
    assert not [c for c in result.checks if not c.ok and c.name != "within the recovery time objective"], result.checks
    assert result.details["rows"]["public.paint"] == {
        "expected": 300, "actual": 300, "exact": True, "partitions": ["public.paint0", "public.paint1"]}
    (tmp_path / "migrations").mkdir(exist_ok=True)  # verify reads the (empty) migrations folder too
    verified = run_verify(settings, target, restored_from=backup_id)
    row_check = next(c for c in verified.checks if c.name == "row counts match the backup")
    assert row_check.ok, row_check.detail


def test_a_refused_freeze_restores_again_without_it(db, tmp_path: Path, monkeypatch) -> None:
    """Should the server refuse a FREEZE pgwarden asked for, the restore runs again without it."""
    from pgwarden.pg import script as pg_script_mod

    def misses_partitioned_roots(self, line: bytes) -> None:  # type: ignore[no-untyped-def]
        if not line.startswith(b"PARTITION BY "):
            real_see(self, line)

    real_see = pg_script_mod.FreezeTracker.see
    monkeypatch.setattr(pg_script_mod.FreezeTracker, "see", misses_partitioned_roots)
    before, settings, target, backup_id = _backup_shapes_then_damage(db, tmp_path)
    lines: list[str] = []
    result = restore_backup(settings, target, backup_id, confirm=db.name, progress=lines.append)
    assert result.ok, result.to_json()
    assert (fingerprint(db.url), _shape_rows(db)) == before
    assert any("refused COPY FREEZE" in line and "nothing was changed" in line for line in lines)
    assert "without COPY FREEZE" in result.details["method"]
    assert _frozen_pages(db, "public.customers")[0] == 0


def test_into_restores_every_shape_with_exact_counts(db, tmp_path: Path) -> None:
    """The same shapes into a new database (parallel COPY connections, no FREEZE): nothing reported wrong."""
    before, settings, target, backup_id = _backup_shapes_then_damage(db, tmp_path)
    new_db = f"{db.name}_into"
    try:
        result = restore_backup(settings, target, backup_id, into=new_db)
        assert result.ok, result.to_json()
        assert not [c for c in result.checks if not c.ok and c.name != "within the recovery time objective"]
        assert result.details["rows"]["public.paint"]["actual"] == 300
        restored_url = db.server.url_for(new_db)
        with psycopg.connect(restored_url) as conn:
            assert conn.execute(SHAPE_ROWS).fetchone() == before[1]
    finally:
        with db.server.admin() as conn:
            conn.execute(f'drop database if exists "{new_db}" with (force)')


@pytest.mark.parametrize("analyze", [True, False])
def test_restored_tables_get_planner_statistics(db, tmp_path: Path, analyze: bool) -> None:
    """pg_dump carries no planner statistics: the restore gathers them unless restore.analyze is off."""
    with db.connect() as conn:
        create_rich(conn)
        conn.execute(SHAPES)
    settings = file_settings(tmp_path)
    settings.restore.analyze = analyze
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    lines: list[str] = []
    result = restore_backup(settings, target, manifest.id, confirm=db.name, progress=lines.append)
    assert result.ok, result.to_json()
    with db.connect() as conn:
        analyzed = {f"{s}.{t}" for s, t in conn.execute(
            "select schemaname, relname from pg_stat_user_tables where last_analyze is not null").fetchall()}
        stats = conn.execute("select count(*) from pg_stats where schemaname = 'public' "
                             "and tablename = 'customers'").fetchone()
    assert stats is not None
    if analyze:
        # Every restored table, partitions and the partitioned tables themselves included.
        assert {"public.customers", "billing.invoices", "public.paint", "public.paint0", "public.visits_2026",
                'Odd "Q" s..t a b'} <= analyzed
        assert stats[0] > 0
        assert result.details["analyze_s"] is not None
        assert any(line.startswith("planner statistics: analyzed ") for line in lines)
    else:
        assert not analyzed and result.details["analyze_s"] is None


def test_in_place_restore_keeps_the_audit_trail_of_the_deploys_it_undoes(db, tmp_path: Path, cli) -> None:
    """issue 10 ("Both"): after restoring the pre-deploy backup, ``status`` still lists that deploy.

    The backup has pgwarden's audit table (an earlier deploy wrote it): the live table stays, with
    the rows of the deploys made after the backup; everything else is the backup's.
    """
    from tests.fix_project import write_sql_project

    with db.connect() as conn:
        create_rich(conn)
    env = {"DATABASE_URL": db.url}
    write_sql_project(tmp_path, {"0001_a": "create table a (id int primary key);\ninsert into a values (1);\n"})
    assert cli("backup", cwd=tmp_path, env=env).code == 0
    first = cli("deploy", "--format", "json", cwd=tmp_path, env=env)
    assert first.code == 0, first.output
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    backup = take_backup(settings, target)  # holds the audit table with the first deploy's row
    assert "public.pgwarden_history" in backup.tables
    before = fingerprint(db.url)
    (tmp_path / "migrations" / "0002_b.sql").write_text(
        "create table b (id int);\nupdate customers set mood = 'sad';\n")
    second = cli("deploy", "--format", "json", cwd=tmp_path, env=env)
    assert second.code == 0, second.output
    trail = db.execute("select id, run_id, outcome, migrations_applied from pgwarden_history order by id")
    assert len(trail) == 2

    lines: list[str] = []
    result = restore_backup(settings, target, backup.id, confirm=db.name, progress=lines.append)
    assert result.ok, result.to_json()
    assert fingerprint(db.url) == before
    assert db.scalar("select to_regclass('public.b')") is None
    assert [r[0] for r in db.execute("select name from pgwarden_migrations order by 1")] == ["0001_a"]
    # The audit trail is the live one: both deploys, the undone one included, and it goes on.
    assert db.execute("select id, run_id, outcome, migrations_applied from pgwarden_history order by id") == trail
    assert any("kept as it is (pgwarden's audit trail" in line and "pgwarden_history" in line for line in lines)
    assert [c.detail for c in result.checks if not c.ok] == ["dropped: table public.b"], result.checks
    assert "public.pgwarden_history" not in result.details["rows"]
    status = cli("status", "--format", "json", cwd=tmp_path, env=env)
    assert status.code == 0, status.output
    shown = json.loads(status.stdout)["last_deploys"]
    assert {d["run_id"] for d in shown} >= {r[1] for r in trail}
    third = cli("deploy", "--format", "json", cwd=tmp_path, env=env)  # 0002 again, after the restore
    assert third.code == 0, third.output
    assert db.scalar("select count(*) from pgwarden_history") == 3
