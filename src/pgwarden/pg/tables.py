"""Row counts of tables named as the manifest names them (``schema.table``), partitions included.

The manifest counts every plain table, partitions one by one. After a restore, the rows of a hash
partition may sit in another partition of the same table: the hash of an enum value is the hash of
its OID, and a restore gives the enum new OIDs (pg_dump then loads the rows through the
partitioned table for exactly that reason). So the partitions of a hash-partitioned table are
compared as one: their summed counts in the backup against the partitioned table's count now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as pgsql

from pgwarden.names import QualifiedName
from pgwarden.pg.connection import server_version

#: The tables a backup counts rows of: plain tables (partitions one by one), not an extension's.
TABLES_SQL = """
select n.nspname, c.relname, c.reltuples::bigint, pg_relation_size(c.oid)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                  and d.objid = c.oid and d.deptype = 'e')
order by 1, 2
"""


def counted_tables(conn: psycopg.Connection[Any]) -> set[str]:
    """The tables a backup of this database would count rows of (:data:`TABLES_SQL`), by name."""
    return {QualifiedName(str(s), str(t)).text for s, t, _, _ in conn.execute(TABLES_SQL).fetchall()}


def count_rows(conn: psycopg.Connection[Any], name: str, exact: bool = True) -> int | None:
    """Rows of ``schema.table`` now (the planner's estimate unless ``exact``); None when it does not exist."""
    table = QualifiedName.parse(name)
    found = conn.execute("select to_regclass(%s)", (table.regclass_text,)).fetchone()
    if found is None or found[0] is None:
        return None
    if exact:
        row = conn.execute(pgsql.SQL("select count(*) from {}.{}").format(
            pgsql.Identifier(table.schema_or_public), pgsql.Identifier(table.name))).fetchone()
    else:
        row = conn.execute(
            "select greatest(c.reltuples, 0)::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s", (table.schema_or_public, table.name)).fetchone()
    return int(row[0]) if row else None


# Every partition with a hash-partitioned table above it, and the partitioned table at the top.
_HASH_PARTITIONS_SQL = """
select n.nspname, c.relname, rn.nspname, r.relname
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_class r on r.oid = pg_partition_root(c.oid)
join pg_namespace rn on rn.oid = r.relnamespace
where c.relispartition and c.relkind = 'r'
  and exists (select 1 from pg_partition_ancestors(c.oid) a
              join pg_partitioned_table p on p.partrelid = a.relid where p.partstrat = 'h')
"""


@dataclass
class CountPlan:
    """The backup's counts to compare: plain tables as they are, hash partitions summed per table."""

    expected: dict[str, int] = field(default_factory=dict)
    exact: set[str] = field(default_factory=set)
    #: partitioned table -> its partitions named in the backup (only for hash partitioning)
    partitions: dict[str, list[str]] = field(default_factory=dict)


def plan_counts(conn: psycopg.Connection[Any], tables: dict[str, int], exact: set[str]) -> CountPlan:
    """Fold the manifest's ``tables`` for comparison with the database ``conn`` holds now."""
    roots: dict[str, str] = {}
    if server_version(conn)[0] >= 12:  # pg_partition_root(); hash partitioning came in 11
        roots = {QualifiedName(s, t).text: QualifiedName(rs, rt).text
                 for s, t, rs, rt in conn.execute(_HASH_PARTITIONS_SQL).fetchall()}
    plan = CountPlan()
    for name, count in tables.items():
        root = roots.get(name)
        if root is None:
            plan.expected[name] = count
            if name in exact:
                plan.exact.add(name)
            continue
        plan.expected[root] = plan.expected.get(root, 0) + count
        plan.partitions.setdefault(root, []).append(name)
    for root, members in plan.partitions.items():
        members.sort()
        if all(m in exact for m in members):
            plan.exact.add(root)
    return plan


def label(name: str, plan: CountPlan) -> str:
    """How a compared table is named in a message: a partitioned table says which partitions it sums."""
    members = plan.partitions.get(name)
    return f"{name} (hash partitions {', '.join(members)}, compared as one)" if members else name


# What ANALYZE gives statistics to in the given schemas; an extension's tables are its own business.
# ``restored``: it has column statistics already (they came with the backup) and no extended
# statistics object (pg_dump carries those objects' definitions, not their data).
_ANALYZABLE_SQL = """
select n.nspname, c.relname,
       exists (select 1 from pg_stats s where s.schemaname = n.nspname and s.tablename = c.relname)
       and not exists (select 1 from pg_statistic_ext e where e.stxrelid = c.oid)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%s) and c.relkind in ('r', 'p', 'm')
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                  and d.objid = c.oid and d.deptype = 'e')
order by 1, 2
"""


def analyze_schemas(conn: psycopg.Connection[Any], schemas: set[str], *,
                    keep_restored: bool = False) -> tuple[int, int]:
    """``ANALYZE`` the tables, partitioned tables and materialized views of ``schemas``.

    Returns how many were analyzed and how many kept the statistics they have. A restore of a
    backup without planner statistics (pg_dump before 18, or without ``--statistics``) brings the
    rows back without them, and until autovacuum gets to each table the first queries may get bad
    plans. With ``keep_restored`` (right after a restore) a table whose column statistics came with
    the backup keeps them, unless it has an extended statistics object (whose data pg_dump does not
    carry) or holds no rows (its data was excluded from the backup: the statistics describe rows
    that are not there). A table the role may not analyze is skipped by the server with a warning.
    """
    rows = conn.execute(_ANALYZABLE_SQL, (sorted(schemas),)).fetchall()
    analyzed = 0
    for schema, table, restored in rows:
        name = pgsql.SQL("{}.{}").format(pgsql.Identifier(schema), pgsql.Identifier(table))
        if keep_restored and restored:
            held = conn.execute(pgsql.SQL("select exists (select from {})").format(name)).fetchone()
            if held is not None and held[0]:
                continue
        conn.execute(pgsql.SQL("analyze {}").format(name))
        analyzed += 1
    return analyzed, len(rows) - analyzed
