"""Which database a connection is on: its name and its server's ``system_identifier``.

The system identifier is chosen by initdb and shared only by a cluster and its physical replicas,
so it tells apart two servers that each hold a database of the same name (staging and production
backing up into one store). A role that may not call ``pg_control_system()`` (some managed
services revoke it) gets None: the identity is then the name alone, as in old manifests.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgwarden.manifest import DatabaseIdentity
from pgwarden.pg.connection import DatabaseTarget, connection


def system_identifier(conn: psycopg.Connection[Any]) -> str | None:
    """The server's system identifier as text, or None when this role may not read it."""
    try:
        with conn.transaction():
            row = conn.execute("select system_identifier::text from pg_control_system()").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row and row[0] is not None else None


def identity_of(conn: psycopg.Connection[Any], target: DatabaseTarget) -> DatabaseIdentity:
    """The identity of ``target``'s database, read on ``conn`` (a connection to it)."""
    return DatabaseIdentity(target.dbname, system_identifier(conn), target.display())


def read_identity(target: DatabaseTarget) -> DatabaseIdentity:
    """Connect to ``target`` and read its identity (OperationFailed when it cannot connect)."""
    with connection(target) as conn:
        return identity_of(conn, target)
