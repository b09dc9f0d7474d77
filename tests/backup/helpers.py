"""Shared test helpers: a rich schema to round-trip and a snapshot of a database's contents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from pgwarden.config import Settings

RICH_SCHEMA = """
create type mood as enum ('sad', 'ok', 'happy');
create schema billing;
create table customers (
    id bigserial primary key,
    email text not null unique,
    mood mood not null default 'ok',
    meta jsonb,
    created_at timestamptz not null default '2024-01-01 00:00:00+00'
);
create index customers_meta_idx on customers using gin (meta);
create table billing.invoices (
    id serial primary key,
    customer_id bigint not null references customers(id),
    amount numeric(12, 2) not null check (amount >= 0),
    doc oid
);
create sequence billing.invoice_numbers start 1000;
insert into customers (email, mood, meta)
    select 'user' || i || '@example.com', (array['sad','ok','happy'])[1 + i % 3]::mood,
           jsonb_build_object('n', i, 'h', md5(i::text))
    from generate_series(1, 3000) i;
insert into billing.invoices (customer_id, amount) select 1 + i % 3000, i * 1.25 from generate_series(1, 5000) i;
select setval('billing.invoice_numbers', 4242);
update billing.invoices set doc = lo_from_bytea(0, 'large object payload'::bytea) where id = 1;
"""


def create_rich(conn: psycopg.Connection[Any]) -> None:
    conn.execute(RICH_SCHEMA)


def fingerprint(url: str) -> dict[str, Any]:
    """What must survive a round trip exactly."""
    with psycopg.connect(url, autocommit=True) as conn:
        q = conn.execute
        return {
            "customers": q("select md5(string_agg(c::text, ',' order by id)) from customers c").fetchone(),
            "invoices": q("select md5(string_agg(i::text, ',' order by id)) from billing.invoices i").fetchone(),
            "seq": q("select last_value from billing.invoice_numbers").fetchone(),
            "serial": q("select last_value from customers_id_seq").fetchone(),
            "indexes": q("select indexname, indexdef from pg_indexes where schemaname in ('public','billing') "
                         "order by 1").fetchall(),
            "constraints": q("select conname, pg_get_constraintdef(oid) from pg_constraint "
                             "where connamespace in (select oid from pg_namespace where nspname in "
                             "('public','billing')) order by 1").fetchall(),
            "enum": q("select enum_range(null::mood)::text").fetchone(),
            "lo": q("select encode(lo_get(doc), 'escape') from billing.invoices where id = 1").fetchone(),
        }


def file_settings(tmp_path: Path, **backup: Any) -> Settings:
    settings = Settings(base_dir=str(tmp_path))
    settings.backup.store = "file://./backups"
    for key, value in backup.items():
        setattr(settings.backup, key, value)
    return settings


def make_shims(folder: Path, log: Path, overrides: dict[str, str] | None = None) -> Path:
    """PGWARDEN_PG_BIN folder of wrappers around the embedded PG 18 client programs.

    Each wrapper logs its argv (and whether PGPASSWORD is set) to ``log``, then runs the
    real program, unless ``overrides`` gives it another bash body (``$REAL`` is the real one).
    """
    from pgwarden.pg.embedded import bin_dir

    real_dir = bin_dir()
    assert real_dir is not None
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("pg_dump", "pg_restore", "psql"):
        body = (overrides or {}).get(name, 'exec "$REAL" "$@"')
        script = folder / name
        script.write_text(
            "#!/bin/bash\n"
            f'REAL="{real_dir / name}"\n'
            f'echo "{name} argv: $* | PGPASSWORD=${{PGPASSWORD:+set}}" >> "{log}"\n'
            'case " $* " in *" --version "*) exec "$REAL" --version;; esac\n'
            f"{body}\n"
        )
        script.chmod(0o755)
    return folder
