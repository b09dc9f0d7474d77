"""What an in-place restore replaces: the backup's schemas, emptied first, in the same transaction.

``pg_restore --clean`` only drops the objects that are *in* the archive, and drops them without
CASCADE. Anything a deploy created after the backup that depends on a backed-up object (a new
table with a foreign key to ``customers``, a view on ``orders``) makes that drop fail, and objects
that are not in the archive survive the restore. A responder restoring a pre-deploy backup needs
the opposite: the schemas in the backup hold exactly the backup afterwards.

So before the archive's SQL, inside the same ``psql --single-transaction``, a *prelude* drops with
CASCADE every relation, free-standing sequence, type/domain and routine of the backup's schemas
(objects that belong to an extension are left to the extension). The archive, rendered with
``--clean --if-exists``, then recreates everything; its own DROPs find nothing left to drop except
extensions, schemas and large objects, which it handles itself. One transaction: any failure leaves
the database exactly as it was.

This module reads the archive's table of contents and the live catalog, and says, before anything
is touched, which objects are not in the backup (named in the result), which objects outside the
backup's schemas depend on it (CASCADE drops them too), and which objects the restoring role cannot
drop (a clear refusal instead of a failure half-way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgwarden.names import AUDIT_TABLE, QualifiedName

# TOC descriptions we compare with the live catalog, longest first so "TABLE DATA" is not "TABLE".
_TOC_KINDS = ("MATERIALIZED VIEW", "FOREIGN TABLE", "PROCEDURE", "AGGREGATE", "FUNCTION", "SEQUENCE",
              "DOMAIN", "INDEX", "TABLE", "VIEW", "TYPE", "SCHEMA")
_TOC_LINE = re.compile(r"^\d+; \d+ \d+ (.+)$")
# Entries whose description starts like a named kind's but are about data or attachment.
_NOT_OBJECTS = ("TABLE DATA ", "TABLE ATTACH ", "SEQUENCE SET ", "SEQUENCE OWNED BY ", "INDEX ATTACH ")


@dataclass
class ArchiveContents:
    """The objects of an archive that an in-place restore compares with the live database."""

    #: schemas that hold at least one object of the archive (or are archived themselves)
    schemas: set[str] = field(default_factory=set)
    #: (kind, "schema.name") with kind one of table, view, ..., as in :data:`_LABELS`
    objects: set[tuple[str, str]] = field(default_factory=set)


_LABELS = {
    "TABLE": "table", "VIEW": "view", "MATERIALIZED VIEW": "materialized view", "FOREIGN TABLE": "foreign table",
    "SEQUENCE": "sequence", "TYPE": "type", "DOMAIN": "type", "INDEX": "index",
    "FUNCTION": "routine", "PROCEDURE": "routine", "AGGREGATE": "routine",
}


def parse_toc(listing: str) -> ArchiveContents:
    """Schemas and named objects from ``pg_restore --list`` output.

    The listing does not quote names: ``TABLE my schema my table owner``. The archive's SCHEMA
    entries (``SCHEMA - my schema owner``) say where an object's schema name ends, so names with
    spaces are read right; a schema without its own entry (``public``) is one word.
    """
    contents = ArchiveContents()
    entries: list[tuple[str, str]] = []
    for line in listing.splitlines():
        match = _TOC_LINE.match(line)
        if not match:
            continue
        rest = match.group(1)
        if rest.startswith(_NOT_OBJECTS):
            continue
        kind = next((k for k in _TOC_KINDS if rest.startswith(k + " ")), None)
        if kind is None:
            continue  # constraints, triggers, defaults...: they live in their table's schema
        if kind == "SCHEMA":
            named = rest[len("SCHEMA - "):]
            contents.schemas.add(named.rsplit(" ", 1)[0] if " " in named else named)
        else:
            entries.append((kind, rest[len(kind) + 1:]))
    # Longest first: a schema "a b" must win over a schema "a".
    known = sorted(contents.schemas, key=len, reverse=True)
    for kind, text in entries:
        schema = next((s for s in known if text.startswith(s + " ")), text.partition(" ")[0])
        if schema == "-":
            continue
        named = text[len(schema) + 1:]
        # The owner is the last word; names keep their inner spaces (function signatures).
        name = named.rsplit(" ", 1)[0] if " " in named else named
        contents.schemas.add(schema)
        contents.objects.add((_LABELS[kind], f"{schema}.{name}"))
    return contents


@dataclass
class LiveObject:
    kind: str          # label as in _LABELS values, or "index"
    schema: str
    local_name: str    # the name in its schema (routines: name(argtypes), like pg_dump's TOC)
    drop: str | None   # the DROP statement, or None when it goes with its table
    owner: str
    can_drop: bool

    @property
    def name(self) -> str:
        """``schema.name`` as pg_restore --list writes it (unquoted), to compare with the archive."""
        return f"{self.schema}.{self.local_name}"


@dataclass
class ReplacePlan:
    """What an in-place restore will do to the live database, known before it starts."""

    schemas: list[str]
    live: list[LiveObject]
    not_in_backup: list[str]
    outside_dependents: list[str]
    not_owned: list[str]
    #: left as they are, with their rows, whatever the backup holds (pgwarden's audit table)
    kept: list[str] = field(default_factory=list)
    #: (kind, schema, name now, name while the restore runs) of each kept relation whose name the
    #: backup would take: renamed aside first, renamed back after the backup's copy is dropped
    aside: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: the kept tables the backup has a copy of (dropped after the script, before the renames back)
    replaced_copies: list[str] = field(default_factory=list)
    #: the kept tables as the manifest names them (:attr:`QualifiedName.text`)
    kept_tables: list[str] = field(default_factory=list)

    def prelude(self) -> bytes:
        """SQL run first in the restore's transaction: puts the kept tables aside, empties the schemas."""
        statements = ["SET client_min_messages = warning;"]
        statements += [f"ALTER {kind} {_qualified(schema, name)} RENAME TO {_ident(temp)};"
                       for kind, schema, name, temp in self.aside]
        statements += [obj.drop for obj in self.live if obj.drop]
        return ("\n".join(statements) + "\n").encode()

    def postlude(self) -> bytes:
        """SQL run after the archive's, before COMMIT: the kept tables take their place again."""
        statements = ["SET client_min_messages = warning;"]
        statements += [f"DROP TABLE IF EXISTS {copy} CASCADE;" for copy in self.replaced_copies]
        statements += [f"ALTER {kind} {_qualified(schema, temp)} RENAME TO {_ident(name)};"
                       for kind, schema, name, temp in self.aside]
        return ("\n".join(statements) + "\n").encode()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str, name: str) -> str:
    return f"{_ident(schema)}.{_ident(name)}"


# Read with search_path = '' so that type names and routine signatures come out schema-qualified,
# exactly as pg_dump (which runs with an empty search_path) writes them into the TOC.
_LIVE_SQL = """
with ns as (select oid, nspname from pg_namespace where nspname = any(%(schemas)s)),
ext as (select classid, objid from pg_depend where deptype = 'e')
select case c.relkind when 'r' then 'table' when 'p' then 'table' when 'v' then 'view'
                      when 'm' then 'materialized view' when 'f' then 'foreign table'
                      when 'S' then 'sequence' else 'index' end,
       n.nspname, c.relname,
       case when c.relkind in ('i', 'I') then null
            else 'DROP ' || case c.relkind when 'r' then 'TABLE' when 'p' then 'TABLE' when 'v' then 'VIEW'
                                           when 'm' then 'MATERIALIZED VIEW' when 'f' then 'FOREIGN TABLE'
                                           else 'SEQUENCE' end
                 || ' IF EXISTS ' || format('%%I.%%I', n.nspname, c.relname) || ' CASCADE;' end,
       pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE'), 'pg_class'::regclass::oid, c.oid
from pg_class c join ns n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I')
  and not exists (select 1 from ext where ext.classid = 'pg_class'::regclass and ext.objid = c.oid)
  -- serial/identity sequences and constraint indexes go with their table
  and not (c.relkind = 'S' and exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
           and d.objid = c.oid and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')))
  and not (c.relkind in ('i', 'I') and exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
           and d.objid = c.oid and d.deptype = 'i'))
  and not c.relispartition
union all
select 'type', n.nspname, t.typname,
       'DROP ' || case t.typtype when 'd' then 'DOMAIN' else 'TYPE' end || ' IF EXISTS '
           || format('%%I.%%I', n.nspname, t.typname) || ' CASCADE;',
       pg_get_userbyid(t.typowner), pg_has_role(t.typowner, 'USAGE'), 'pg_type'::regclass::oid, t.oid
from pg_type t join ns n on n.oid = t.typnamespace
where t.typtype in ('b', 'c', 'd', 'e', 'r')
  and (t.typtype <> 'c' or (select relkind from pg_class where oid = t.typrelid) = 'c')
  and not exists (select 1 from pg_type e where e.typarray = t.oid)
  and not exists (select 1 from pg_depend d where d.classid = 'pg_type'::regclass and d.objid = t.oid
                  and d.deptype in ('e', 'i'))
union all
select 'routine', n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')',
       'DROP ROUTINE IF EXISTS ' || p.oid::regprocedure::text || ' CASCADE;',
       pg_get_userbyid(p.proowner), pg_has_role(p.proowner, 'USAGE'), 'pg_proc'::regclass::oid, p.oid
from pg_proc p join ns n on n.oid = p.pronamespace
where not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                  and d.deptype in ('e', 'i'))
"""

_DEPENDENTS_SQL = """
select distinct o.type || ' ' || o.identity
from pg_depend d
-- a view depends through its _RETURN rule: name the view
left join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid,
lateral pg_identify_object(coalesce(case when r.oid is not null then 'pg_class'::regclass end, d.classid),
                           coalesce(r.ev_class, d.objid), 0) o
where d.deptype = 'n' and (d.refclassid, d.refobjid) in (select * from unnest(%(classes)s::oid[], %(oids)s::oid[]))
  and o.schema is not null and not (o.schema = any(%(schemas)s))
  and not exists (select 1 from pg_depend e where e.classid = d.classid and e.objid = d.objid and e.deptype = 'e')
order by 1
"""


def plan_replace(conn: psycopg.Connection[Any], contents: ArchiveContents) -> ReplacePlan:
    """Compare the live catalog of the backup's schemas with the archive."""
    schemas = sorted(contents.schemas)
    with conn.transaction():
        conn.execute("select set_config('search_path', '', true)")
        rows = conn.execute(_LIVE_SQL, {"schemas": schemas}).fetchall()
        live = [LiveObject(str(r[0]), str(r[1]), str(r[2]), r[3], str(r[4]), bool(r[5])) for r in rows]
        classes = [int(r[6]) for r in rows]
        oids = [int(r[7]) for r in rows]
        dependents = [str(r[0]) for r in conn.execute(
            _DEPENDENTS_SQL, {"classes": classes, "oids": oids, "schemas": schemas}).fetchall()]
    # pgwarden's own audit table records the deploys being undone: it stays as it is, with its
    # rows, also when the backup has an older copy of it (that copy is dropped again).
    kept = [o for o in live if o.kind == "table" and o.local_name == AUDIT_TABLE]
    live = [o for o in live if o not in kept]
    aside: list[tuple[str, str, str, str]] = []
    replaced: list[str] = []
    if kept:
        with conn.transaction():
            for table in kept:
                if ("table", table.name) not in contents.objects:
                    continue
                replaced.append(_qualified(table.schema, table.local_name))
                rows = conn.execute(_KEPT_RELATIONS_SQL, {"schema": table.schema, "name": table.local_name}).fetchall()
                aside += [(str(kind), table.schema, str(name), _aside_name(str(name), str(oid)))
                          for kind, name, oid in rows]
    # Tables before the rest: their CASCADE takes views, sequences and indexes with them.
    live.sort(key=lambda o: (o.kind not in ("table", "foreign table"), o.kind, o.name))
    not_in_backup = [f"{o.kind} {o.name}" for o in live if (o.kind, o.name) not in contents.objects]
    not_owned = [f"{o.kind} {o.name} (owner {o.owner})" for o in live if o.drop and not o.can_drop]
    return ReplacePlan(schemas, live, not_in_backup, dependents, not_owned, [f"table {o.name}" for o in kept],
                       aside, replaced, [QualifiedName(o.schema, o.local_name).text for o in kept])


# A kept table and the relations named in its schema that come with it (its sequences, indexes):
# the backup's copy creates the same names, so they are renamed aside while it exists.
_KEPT_RELATIONS_SQL = """
with t as (select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %(schema)s and c.relname = %(name)s and c.relkind in ('r', 'p'))
select 'TABLE', c.relname, c.oid from pg_class c join t on c.oid = t.oid
union all
select 'SEQUENCE', s.relname, s.oid from pg_depend d join t on d.refobjid = t.oid
  join pg_class s on s.oid = d.objid and s.relkind = 'S'
  where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
union all
select 'INDEX', i.relname, i.oid from pg_index x join t on x.indrelid = t.oid join pg_class i on i.oid = x.indexrelid
"""


def _aside_name(name: str, oid: str) -> str:
    """A name no backup uses, 63 bytes at most (PostgreSQL's limit)."""
    suffix = f"_pgwarden_kept_{oid}"
    return name.encode()[:63 - len(suffix)].decode("utf-8", "ignore") + suffix
