"""The faster restore paths keep their guarantees: rows split over sessions arrive exactly once,
row counts come from the server's COPY results and are still compared, a failed load drops the
new database."""

from __future__ import annotations

import io
import json
from pathlib import Path

import psycopg
import pytest

from pgwarden.errors import OperationFailed
from pgwarden.pg import restore_parallel
from pgwarden.pg import script as pg_script_mod
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.script import script_events
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup
from tests.backup.helpers import create_rich, file_settings, fingerprint, make_shims

SCRIPT = (
    b"SET client_encoding = 'UTF8';\n"
    b"COPY \"We.ird\".\"ta\"\"ble\" (id, t) FROM stdin;\n"
    b"1\tends with a backslash dot \\\\.\n"
    b"2\t\\.\\\\\n"
    b"\\.\n"
    b"SELECT pg_catalog.setval('public.s', 5, true);\n"
    b"COPY public.empty (id) FROM stdin;\n"
    b"\\.\n"
    b"\\unrestrict abc\n"
)


class _Trickle(io.BytesIO):
    """Hands out a few bytes per read, so every boundary case of the block reader is hit."""

    def read1(self, size: int = -1) -> bytes:  # type: ignore[override]
        return super().read1(5)


def test_script_events_pass_every_byte_and_end_copy_only_at_the_marker() -> None:
    events = list(script_events(_Trickle(SCRIPT)))  # type: ignore[arg-type]
    assert b"".join(data for _, data in events) == SCRIPT
    kinds = [kind for kind, _ in events]
    assert kinds.count("copy") == 2 and kinds.count("end") == 2
    rows = b"".join(data for kind, data in events if kind == "rows")
    assert rows.count(b"\n") == 2  # the escaped "\\." in a row never ends the COPY
    assert all(data.endswith(b"\n") for kind, data in events if kind == "rows")
    whole = list(script_events(io.BytesIO(SCRIPT)))
    assert [k for k, _ in whole if k != "rows"] == [k for k, _ in events if k != "rows"]


def _captured_connections(monkeypatch) -> list[list[str]]:
    """The tables each loading connection ran a COPY for (``--into``)."""
    seen: list[list[str]] = []
    real = restore_parallel._copied_rows

    def spy(per_connection):  # type: ignore[no-untyped-def]
        seen.extend([table for table, _ in counts] for counts in per_connection)
        return real(per_connection)

    monkeypatch.setattr(restore_parallel, "_copied_rows", spy)
    return seen


def test_into_deals_one_table_over_sessions_and_counts_rows_exactly(db, tmp_path: Path, monkeypatch) -> None:
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    settings.restore.jobs = 3
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    monkeypatch.setattr(pg_script_mod, "SCRIPT_READ", 4096)  # many blocks per table
    seen = _captured_connections(monkeypatch)
    new_db = db.name + "_p"
    try:
        result = restore_backup(settings, target, manifest.id, into=new_db)
        assert result.ok, result.to_json()
        assert fingerprint(db.server.url_for(new_db)) == fingerprint(db.url)
        with psycopg.connect(db.server.url_for(new_db)) as conn:
            actual = conn.execute("select count(*) from billing.invoices").fetchone()
        assert actual == (5000,)
    finally:
        with db.server.admin() as conn:
            conn.execute(f'drop database if exists "{new_db}" with (force)')
    assert result.details["rows"]["billing.invoices"] == {"expected": 5000, "actual": 5000, "exact": True}
    assert sum("billing.invoices" in copies for copies in seen) >= 2, seen  # really split
    assert "counted by the server while loading them" in result.checks[0].detail


def test_copy_counts_are_compared_not_trusted(db, tmp_path: Path) -> None:
    """COPY results that differ from the manifest fail the restore: in place nothing is committed."""
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 10")
    # The manifest says one row more than the archive holds.
    path = next((tmp_path / "backups").rglob("manifest.json"))
    data = json.loads(path.read_text())
    data["tables"]["public.customers"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(OperationFailed) as failure:
        restore_backup(settings, target, manifest.id, confirm=db.name)
    assert "public.customers: 3000 rows, backup had 3001" in str(failure.value)
    assert "nothing was changed" in str(failure.value)
    assert db.scalar("select count(*) from billing.invoices") == 10


def _assert_dropped(db, new_db: str) -> None:  # type: ignore[no-untyped-def]
    with db.server.admin() as conn:
        assert conn.execute("select 1 from pg_database where datname = %s", (new_db,)).fetchone() is None


def test_failed_parallel_load_drops_the_new_database(db, tmp_path: Path, monkeypatch) -> None:
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    # The psql session of the data section (settings, sequence values) dies after its first
    # bytes: the restore must fail, not carry on without it.
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log",
                       {"psql": 'head -c 200 | "$REAL" "$@" >/dev/null; exit 3'})
    monkeypatch.setenv("PGWARDEN_PG_BIN", str(shims))
    new_db = db.name + "_f"
    with pytest.raises(OperationFailed, match="psql exit 3"):
        restore_backup(settings, target, manifest.id, into=new_db)
    _assert_dropped(db, new_db)


def test_rejected_copy_block_fails_the_load_and_drops_the_new_database(db, tmp_path: Path, monkeypatch) -> None:
    """The server rejects rows in one loading connection: the restore fails, names why, drops the database."""
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    settings.restore.jobs = 2
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    monkeypatch.setattr(pg_script_mod, "SCRIPT_READ", 4096)
    real_send = restore_parallel._CopyLoader.send
    sent = {"rows": 0}

    def corrupt_third_block(self, kind: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if kind == "rows":
            sent["rows"] += 1
            if sent["rows"] == 3:
                data = b"not\ta\trow\n" + data
        real_send(self, kind, data)

    monkeypatch.setattr(restore_parallel._CopyLoader, "send", corrupt_third_block)
    new_db = db.name + "_c"
    with pytest.raises(OperationFailed, match="loading the data failed"):
        restore_backup(settings, target, manifest.id, into=new_db)
    _assert_dropped(db, new_db)


def test_half_rendered_data_section_never_commits_a_copy(db, tmp_path: Path, monkeypatch) -> None:
    """pg_restore stops half-way through the data: the open COPYs are aborted, the database dropped."""
    with db.connect() as conn:
        create_rich(conn)
    settings = file_settings(tmp_path)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target)
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log", {
        "pg_restore": 'case "$*" in *--section=data*) "$REAL" "$@" | head -c 20000; exit 3;; '
                      '*) exec "$REAL" "$@";; esac'})
    monkeypatch.setenv("PGWARDEN_PG_BIN", str(shims))
    new_db = db.name + "_h"
    with pytest.raises(OperationFailed, match="could not render the archive"):
        restore_backup(settings, target, manifest.id, into=new_db)
    _assert_dropped(db, new_db)
