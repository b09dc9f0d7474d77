"""``pgwarden_unfinished``: the migrations pgwarden started and has not seen finish.

Before a deploy attempt hands its pending migrations to the tool, it writes one ``started`` row
per migration (committed before the tool runs, so even a SIGKILLed pgwarden leaves them). When
the attempt ends, the rows of the migrations that finished, or rolled back as a whole, are
deleted; a non-atomic migration that failed half-way becomes ``unknown``. Rows left ``started``
by a deploy that died are settled by the next one (:mod:`pgwarden.pipeline.unfinished`).
An ``unknown`` row stays until ``pgwarden resolve`` deletes it.

Only this module writes the table; every function takes an open autocommit connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgwarden.names import UNFINISHED_TABLE
from pgwarden.pg.connection import table_exists
from pgwarden.records import Migration

#: The attempt handed the migration to the tool; nobody has seen it finish yet.
STARTED = "started"
#: It did not finish and may be partly applied: deploy refuses until ``pgwarden resolve``.
UNKNOWN = "unknown"

_TABLE = sql.Identifier(UNFINISHED_TABLE)
_DDL = sql.SQL("""
create table if not exists {table} (
    tool text not null,
    migration text not null,
    run_id text not null,
    position integer not null,
    atomic boolean not null,
    state text not null,
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    error text,
    primary key (tool, migration)
)
""").format(table=_TABLE)


@dataclass(frozen=True)
class UnfinishedRow:
    """One row: ``migration`` of ``tool``, handed over by deploy ``run_id`` at ``position`` in its run."""

    tool: str
    migration: str
    run_id: str
    position: int
    atomic: bool
    state: str
    started_at: dt.datetime | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"migration": self.migration, "tool": self.tool, "run_id": self.run_id, "state": self.state,
                "atomic": self.atomic, "started_at": self.started_at, "error": self.error}


def read_rows(conn: psycopg.Connection[Any], tool: str) -> list[UnfinishedRow]:
    """Every row of ``tool``, oldest run first and in run order; empty when the table does not exist."""
    if not table_exists(conn, UNFINISHED_TABLE):
        return []
    rows = conn.execute(
        sql.SQL("select tool, migration, run_id, position, atomic, state, started_at, error from {table} "
                "where tool = %s order by started_at, run_id, position").format(table=_TABLE),
        (tool,),
    ).fetchall()
    return [UnfinishedRow(*row) for row in rows]


def write_started(conn: psycopg.Connection[Any], tool: str, run_id: str, migrations: Sequence[Migration]) -> None:
    """Record ``migrations`` as handed to the tool by ``run_id`` (one transaction, committed on return).

    A row already ``unknown`` is never overwritten: deploy refuses before it gets here.
    """
    with conn.transaction():
        conn.execute(_DDL)
        for position, migration in enumerate(migrations):
            conn.execute(
                sql.SQL("insert into {table} (tool, migration, run_id, position, atomic, state) "
                        "values (%s, %s, %s, %s, %s, %s) on conflict (tool, migration) do update set "
                        "run_id = excluded.run_id, position = excluded.position, atomic = excluded.atomic, "
                        "state = excluded.state, started_at = now(), updated_at = now(), error = null "
                        "where {table}.state <> %s").format(table=_TABLE),
                (tool, migration.name, run_id, position, migration.atomic, STARTED, UNKNOWN),
            )


def mark_unknown(conn: psycopg.Connection[Any], tool: str, migration: str, error: str | None) -> None:
    conn.execute(
        sql.SQL("update {table} set state = %s, error = coalesce(%s, error), updated_at = now() "
                "where tool = %s and migration = %s").format(table=_TABLE),
        (UNKNOWN, error, tool, migration),
    )


def delete_rows(conn: psycopg.Connection[Any], tool: str, migrations: Sequence[str], *,
                state: str | None = STARTED) -> None:
    """Delete the rows of ``migrations`` (only those in ``state``; None: whatever their state)."""
    if not migrations or not table_exists(conn, UNFINISHED_TABLE):
        return
    query = sql.SQL("delete from {table} where tool = %s and migration = any(%s)").format(table=_TABLE)
    params: tuple[Any, ...] = (tool, list(migrations))
    if state is not None:
        query = query + sql.SQL(" and state = %s")
        params += (state,)
    conn.execute(query, params)
