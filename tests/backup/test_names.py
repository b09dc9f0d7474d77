"""Table names with a dot or a double quote in them, at the backup/restore edge.

The manifest names a table ``schema.table`` in :attr:`pgwarden.names.QualifiedName.text` form
(a part quoted only when it has a dot or a quote), so a dotted schema reads back as itself;
the COPY results of a restore name tables the same way, and the in-place restore keeps
pgwarden's audit table whatever its schema is called.
"""

from __future__ import annotations

from pathlib import Path

from pgwarden.names import AUDIT_TABLE, QualifiedName
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.inplace import ArchiveContents, plan_replace
from pgwarden.pg.script import copy_table
from pgwarden.pipeline.backup import take_backup
from tests.backup.helpers import file_settings

DOTTED = """
create schema "We.ird";
create table "We.ird"."ta""ble" (id int primary key, t text);
insert into "We.ird"."ta""ble" select g, 'row ' || g from generate_series(1, 7) g;
create table "We.ird".plain (id int);
insert into "We.ird".plain values (1), (2);
"""


def test_manifest_names_a_dotted_schema_so_it_reads_back(db, tmp_path: Path) -> None:
    with db.connect() as conn:
        conn.execute(DOTTED)
    manifest = take_backup(file_settings(tmp_path), DatabaseTarget.from_url(db.url))
    # Before: "We.ird.ta\"ble", which reads back as table 'ird.ta"ble' in schema "We".
    assert manifest.tables['"We.ird"."ta""ble"'] == 7
    assert manifest.tables['"We.ird".plain'] == 2
    assert QualifiedName.parse('"We.ird"."ta""ble"') == QualifiedName("We.ird", 'ta"ble')
    assert set(manifest.exact_tables) >= {'"We.ird"."ta""ble"', '"We.ird".plain'}


def test_copy_results_name_tables_like_the_manifest() -> None:
    assert copy_table(b'COPY "We.ird"."ta""ble" (id, t) FROM stdin;\n') == '"We.ird"."ta""ble"'
    assert copy_table(b"COPY public.events (id, user_id) FROM stdin;\n") == "public.events"


def test_in_place_keeps_the_audit_table_in_a_dotted_schema(db) -> None:
    with db.connect() as conn:
        conn.execute(f'create schema "a.b"; create table "a.b".{AUDIT_TABLE} (id int)')
        plan = plan_replace(conn, ArchiveContents(schemas={"a.b"}, objects=set()))
    # Before: the name was split at its first dot ("b.pgwarden_history"), so the table was dropped.
    assert plan.kept == [f"table a.b.{AUDIT_TABLE}"]
    assert all(obj.local_name != AUDIT_TABLE for obj in plan.live)
