"""The server a scratch copy goes on: how much disk the copy needs, how much the server has free,
and the copies an earlier run left there (:func:`databases_named_like`).

PostgreSQL has no SQL function for free disk space. When the server runs on this machine (a Unix
socket or a loopback address) and the role may read ``data_directory`` (a superuser, or a member of
``pg_read_all_settings``), the free space is that folder's file system's; otherwise it cannot be
known from here and :func:`free_bytes` says why.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.pg.connection import DatabaseTarget

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class SpaceNeed:
    """A database's size and its largest table's (a rewrite of it needs that much again, briefly)."""

    database_bytes: int
    largest_table: str | None
    largest_table_bytes: int

    @property
    def copy_bytes(self) -> int:
        """What a restored copy migrated in the worst case needs: the database plus its largest table."""
        return self.database_bytes + self.largest_table_bytes


def space_need(conn: psycopg.Connection[Any]) -> SpaceNeed:
    """The connected database's size (``pg_database_size``) and its largest table with indexes and TOAST."""
    row = conn.execute("select pg_database_size(current_database())").fetchone()
    largest = conn.execute(
        "select format('%I.%I', n.nspname, c.relname), pg_total_relation_size(c.oid) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm') "
        "and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' "
        "order by 2 desc limit 1").fetchone()
    return SpaceNeed(int(row[0]) if row else 0, str(largest[0]) if largest else None,
                     int(largest[1]) if largest else 0)


def free_bytes(conn: psycopg.Connection[Any], server: DatabaseTarget) -> tuple[int | None, str]:
    """Free bytes where the server keeps its data and that folder, or None and why it cannot be known."""
    host = server.host
    if not (host.startswith("/") or host in _LOCAL_HOSTS):
        return None, f"the server ({host}) is not on this machine"
    try:
        with conn.transaction():
            row = conn.execute("select current_setting('data_directory')").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return None, "the role may not read data_directory (superuser or pg_read_all_settings)"
    folder = Path(str(row[0])) if row else None
    if folder is None or not folder.exists():
        return None, "the server's data directory is not visible from here (another machine or container)"
    try:
        return shutil.disk_usage(folder).free, str(folder)
    except OSError as exc:
        return None, f"cannot read the free space of {folder}: {exc.strerror or exc}"


def databases_named_like(conn: psycopg.Connection[Any], prefix: str) -> list[tuple[str, int]]:
    """The server's databases whose name starts with ``prefix``, with how many sessions each has now."""
    pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    rows = conn.execute(
        "select d.datname, (select count(*) from pg_stat_activity a where a.datid = d.oid) from pg_database d "
        "where d.datname like %s order by 1", (pattern,)).fetchall()
    return [(str(name), int(sessions)) for name, sessions in rows]
