"""Questions to the system catalog that the steps ask: what exists, what is broken, who am I.

Each function runs one catalog query and returns plain values; the judgement (is an INVALID
index a failure? may a restore go ahead?) stays with the step that asks. Table names come back
in the manifest form (:attr:`pgwarden.names.QualifiedName.text`), so they compare with a
backup's ``tables``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgwarden.names import QualifiedName

# The application's schemas: not the system's, not TOAST.
_USER_SCHEMAS = "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'"


def _names(rows: list[tuple[Any, ...]]) -> list[str]:
    return [QualifiedName(str(schema), str(name)).text for schema, name in rows]


def tables_with_primary_key(conn: psycopg.Connection[Any]) -> list[str]:
    """Every user table that has a primary key (deploy records them; verify compares)."""
    return _names(conn.execute(
        "select n.nspname, c.relname from pg_constraint k join pg_class c on c.oid = k.conrelid "
        f"join pg_namespace n on n.oid = c.relnamespace where k.contype = 'p' and {_USER_SCHEMAS} order by 1, 2"
    ).fetchall())


def user_tables(conn: psycopg.Connection[Any]) -> set[str]:
    """Every user table, plain or partitioned."""
    return set(_names(conn.execute(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        f"where c.relkind in ('r', 'p') and {_USER_SCHEMAS}"
    ).fetchall()))


def invalid_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """``schema.index on table`` of every INVALID index (what a failed CREATE INDEX CONCURRENTLY leaves)."""
    rows = conn.execute(
        "select n.nspname, c.relname, t.relname from pg_index i "
        "join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid "
        f"join pg_namespace n on n.oid = c.relnamespace where not i.indisvalid and {_USER_SCHEMAS} order by 1, 2"
    ).fetchall()
    return [f"{QualifiedName(str(s), str(i)).text} on {t}" for s, i, t in rows]


def not_valid_constraints(conn: psycopg.Connection[Any]) -> list[str]:
    """``constraint on schema.table`` of every constraint added NOT VALID and never validated."""
    rows = conn.execute(
        "select k.conname, n.nspname, c.relname from pg_constraint k "
        "join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace "
        f"where not k.convalidated and {_USER_SCHEMAS} order by 1, 2, 3"
    ).fetchall()
    return [f"{k} on {QualifiedName(str(s), str(t)).text}" for k, s, t in rows]


def setting_names(conn: psycopg.Connection[Any]) -> set[str]:
    """The names of the settings this server knows (a newer pg_dump may set ones it does not)."""
    return {str(r[0]) for r in conn.execute("select name from pg_settings").fetchall()}


def database_exists(conn: psycopg.Connection[Any], dbname: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone() is not None


def current_role(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("select current_user").fetchone()
    return str(row[0]) if row else None
