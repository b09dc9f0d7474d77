"""The pre-flight look at blockers: sessions in a transaction holding locks on the tables to migrate.

A DDL statement would queue behind such a session, and every query of the application would
then queue behind the DDL (the classic migration outage). :func:`find_blocking_sessions` lists
them before anything runs; :func:`transactions_alive` tells a retry when they are gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from pgwarden.names import QualifiedName
from pgwarden.pg.deploy_lock import DEPLOY_LOCK_APPLICATION_NAME
from pgwarden.pg.watchdog import WATCHDOG_APPLICATION_NAME
from pgwarden.redact import redact


@dataclass(frozen=True)
class BlockingSession:
    """A session inside a transaction that holds locks a migration would queue behind."""

    pid: int
    application_name: str
    user: str
    state: str
    xact_age_s: float
    query: str
    #: The locked tables, as ``schema.table`` (:attr:`QualifiedName.text`).
    relations: tuple[str, ...]
    xact_start: str

    def describe(self) -> str:
        tables = ", ".join(self.relations) if self.relations else "no table locks"
        return (
            f"pid {self.pid} ({self.application_name or 'no application_name'}, user {self.user}) "
            f"{self.state} for {self.xact_age_s:.1f}s holding locks on {tables}; last query: {self.query}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "application_name": self.application_name,
            "user": self.user,
            "state": self.state,
            "xact_age_s": round(self.xact_age_s, 3),
            "query": self.query,
            "relations": list(self.relations),
        }


# The locked relations come back as [schema, table] pairs, never joined into one string: a dot
# inside a name would make "schema.table" ambiguous.
_BLOCKERS_SQL = """
select a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), coalesce(a.state, ''),
       extract(epoch from clock_timestamp() - a.xact_start)::float8,
       left(coalesce(a.query, ''), 200), a.xact_start::text,
       coalesce(array_agg(distinct array[n.nspname::text, c.relname::text])
                filter (where c.oid is not null and n.nspname not in ('pg_catalog', 'information_schema')),
                '{}'::text[])
from pg_stat_activity a
join pg_locks l on l.pid = a.pid and l.granted and l.locktype = 'relation'
left join pg_class c on c.oid = l.relation and c.relkind in ('r', 'p', 'm', 'f')
left join pg_namespace n on n.oid = c.relnamespace
where a.datname = current_database() and a.pid <> pg_backend_pid() and a.xact_start is not null
  and coalesce(a.application_name, '') not in (%s, %s)
  and (a.state like 'idle in transaction%%' or clock_timestamp() - a.xact_start > make_interval(secs => %s))
group by a.pid, a.application_name, a.usename, a.state, a.xact_start, a.query
order by a.xact_start
"""


def _wanted(relation: QualifiedName, tables: Iterable[QualifiedName] | None) -> bool:
    """Is this locked relation one of ``tables``? Unqualified names mean ``public``; schemas must match."""
    if tables is None:
        return True
    return any(t.same_table(relation.schema_or_public, relation.name) for t in tables)


def find_blocking_sessions(
    conn: psycopg.Connection[Any], tables: Iterable[QualifiedName] | None, *, min_xact_age_s: float = 1.0
) -> list[BlockingSession]:
    """Idle-in-transaction sessions and transactions older than ``min_xact_age_s`` holding
    locks on ``tables`` (every table when None)."""
    wanted = None if tables is None else list(tables)
    rows = conn.execute(
        _BLOCKERS_SQL, (DEPLOY_LOCK_APPLICATION_NAME, WATCHDOG_APPLICATION_NAME, min_xact_age_s)
    ).fetchall()
    found = []
    for pid, app, user, state, age, query, xact_start, relations in rows:
        locked = (QualifiedName(schema, name) for schema, name in relations)
        relevant = tuple(r.text for r in sorted(r for r in locked if _wanted(r, wanted)))
        if not relevant:
            continue
        found.append(
            BlockingSession(
                pid=pid, application_name=app, user=user, state=state, xact_age_s=float(age or 0.0),
                query=redact(" ".join(query.split())), relations=relevant, xact_start=xact_start,
            )
        )
    return found


def transactions_alive(conn: psycopg.Connection[Any], transactions: Iterable[tuple[int, str]]) -> bool:
    """Is any of these (pid, xact_start) transactions still open?"""
    wanted = list(transactions)
    if not wanted:
        return False
    rows = conn.execute(
        "select pid, xact_start::text from pg_stat_activity where pid = any(%s)", ([p for p, _ in wanted],)
    ).fetchall()
    alive = {(pid, start) for pid, start in rows}
    return any(t in alive for t in wanted)
