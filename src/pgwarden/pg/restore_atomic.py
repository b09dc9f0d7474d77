"""The atomic restore: the whole archive in one transaction on pgwarden's own connection.

Every in-place restore goes this way, and so does any restore into an older server than the
pg_dump that wrote the archive: the archive is rendered as SQL (``pg_restore -f -
--single-transaction``), ``SET`` lines for settings the target server does not have are dropped
(pg_dump 17+ writes ``SET transaction_timeout = 0;`` which PostgreSQL 15 rejects; the list comes
from the target's own ``pg_settings``), an optional prelude is put first (the in-place restore
empties the backup's schemas with it), the tables the script creates load with ``COPY ...
FREEZE``, and all of it runs in one transaction of a psycopg connection of pgwarden's own:
statements in batches (simple query protocol, stopping at the first error like psql's
``ON_ERROR_STOP``), rows through ``COPY`` straight from pg_restore's output.

The COMMIT is pgwarden's decision, and nobody else's: it is sent only after pg_restore exited
cleanly, every statement ran, and ``before_commit`` (the caller's row-count check, run inside the
transaction) passed. It used to be psql's: ``psql --single-transaction`` commits when its input
ends, and a pgwarden killed at a statement boundary ended its input, committing half a restore.
Now a killed pgwarden closes its connection, and the server rolls the transaction back; the
pg_restore it started dies with it (:func:`pgwarden.children.die_with_parent`).

Reading the archive is :mod:`pgwarden.pg.archive`; reading the SQL script pg_restore renders from
it is :mod:`pgwarden.pg.script` and :mod:`pgwarden.pg.statements`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.children import die_with_parent
from pgwarden.errors import OperationFailed
from pgwarden.pg.archive import Feeder, Tail, widen_pipe
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.pg.restore_session import RESTORE_SESSION_OPTIONS, RestoreRun, statistics_args
from pgwarden.pg.script import FreezeTracker, copy_table, script_events, setting_name
from pgwarden.pg.statements import StatementSplitter
from pgwarden.redact import redact

#: How every failure of a single-transaction restore ends, said plainly for the responder.
ROLLED_BACK = "nothing was changed: the restore ran in one transaction and was rolled back"
#: statements are sent in batches of about this many bytes (fewer round trips to a far server)
BATCH_BYTES = 256 * 1024
#: psql meta-commands pg_dump writes that mean nothing on a plain connection (psql's protection
#: against meta-commands injected through the dump; this connection runs none at all)
_IGNORED_META = (b"\\restrict ", b"\\unrestrict ")
#: the TOC header pg_restore writes above each foreign key it adds (and validates)
_FK_HEADER = b"; Type: FK CONSTRAINT;"
# While the foreign keys are validated, the planner is told what COPY FREEZE did: the pages of a
# table created and loaded frozen in this transaction are all-visible (nearly all: a page that one
# batch of rows filled only partly and the next finished is not marked), which pg_class.relallvisible
# says only after a VACUUM. Returns the values it replaced, which are put back once the script has
# run. Only where the role may (MAINTAIN), and only from PostgreSQL 18 (pg_restore_relation_stats);
# qualified throughout: the script runs with search_path ''.
_MARK_VISIBLE = """
with t as (
    select n.nspname::text s, c.relname::text r, c.relpages p, c.relallvisible v,
           (pg_catalog.pg_relation_size(c.oid)
            / pg_catalog.current_setting('block_size')::pg_catalog.int4)::pg_catalog.int4 pages
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.oid operator(pg_catalog.=) any(%s::pg_catalog.regclass[])
      and pg_catalog.has_table_privilege(c.oid, 'MAINTAIN'))
select s, r, p, v, pg_catalog.pg_restore_relation_stats('schemaname', s, 'relname', r,
                                                        'relpages', pages, 'relallvisible', pages)
from t
"""
_PUT_BACK = """
select pg_catalog.pg_restore_relation_stats('schemaname', s, 'relname', r, 'relpages', p, 'relallvisible', v)
from pg_catalog.unnest(%s::pg_catalog.text[], %s::pg_catalog.text[], %s::pg_catalog.int4[], %s::pg_catalog.int4[])
     u(s, r, p, v)
"""
#: called inside the transaction, before COMMIT, with the rows each table received; raises to roll back
BeforeCommit = Callable[[psycopg.Connection[Any], "dict[str, int]"], None]


def _statement_core(statement: bytes) -> bytes:
    """The statement without the comment lines pg_restore puts before it."""
    core = statement.strip()
    while core.startswith(b"--"):
        _, _, core = core.partition(b"\n")
        core = core.strip()
    return core


class ScriptRunner:
    """Runs pg_restore's script events on one connection, in the transaction it is in."""

    def __init__(self, conn: psycopg.Connection[Any], known_settings: set[str], frozen: FreezeTracker | None,
                 *, mark_visible: bool = False) -> None:
        self.conn = conn
        #: tell the planner the frozen tables are all-visible while the foreign keys are validated
        self.mark_visible = mark_visible and frozen is not None
        #: (schema, table, relpages, relallvisible) as they were before: put back at the end
        self.replaced: list[tuple[str, str, int, int]] | None = None
        self.cur = conn.cursor()
        self.known_settings = known_settings
        self.frozen = frozen
        self.splitter = StatementSplitter()
        self.batch: list[bytes] = []
        self.batch_size = 0
        self.dropped: list[str] = []
        self.loaded: dict[str, int] = {}
        self._copy: Any = None
        self._copy_cm: Any = None
        self._copy_table = ""

    def execute(self, sql: bytes) -> None:
        """Send ``sql`` (any number of statements) at once; raises psycopg.Error on the first error."""
        if sql.strip():
            self.cur.execute(sql)

    def flush(self) -> None:
        if self.batch:
            sql = b"".join(self.batch)
            self.batch, self.batch_size = [], 0
            self.execute(sql)

    def take(self, kind: str, data: bytes) -> None:
        if kind == "rows":
            self._copy.write(data)
        elif kind == "end":
            self._end_copy()
        elif kind == "copy":
            self._start_copy(data)
        else:
            if self.frozen is not None:
                self.frozen.see(data)
            for statement in self.splitter.feed(data):
                self._statement(statement)

    def finish(self) -> None:
        """The end of the script: what is left (psql runs a last statement without ``;`` too)."""
        if self._copy is not None:
            raise OperationFailed("pg_restore's script ended inside a COPY")
        rest = self.splitter.pending
        if not self.splitter.at_boundary:
            self._statement(rest)
        self.flush()
        if self.replaced:
            self._hint(_PUT_BACK, [list(column) for column in zip(*self.replaced, strict=True)])

    def _mark_visible(self) -> None:
        """Before the first foreign key: the frozen tables' pages are all-visible, for the planner.

        A foreign key's validation is a query: with the pages known all-visible the planner checks
        it with index-only scans of the two indexes (a merge anti join: 0.22 s for the benchmark's
        2M rows) instead of a hash anti join over the whole table (0.85 s); the check is the same.
        """
        self.mark_visible = False  # once: all COPYs come before the first foreign key
        assert self.frozen is not None
        if self.frozen.tables:
            rows = self._hint(_MARK_VISIBLE, [self.frozen.tables])
            self.replaced = [(str(s), str(r), int(p), int(v)) for s, r, p, v, _ in rows]

    def _hint(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """A planner hint, in a savepoint: should the server refuse it, the restore goes on without it."""
        self.flush()
        try:
            with self.conn.transaction():
                self.cur.execute(query, params)
                return self.cur.fetchall()
        except psycopg.Error:
            if self.conn.broken:
                raise
            return []

    def _statement(self, statement: bytes) -> None:
        core = _statement_core(statement)
        if core.startswith(b"\\"):
            if not core.startswith(_IGNORED_META):
                raise OperationFailed(f"pg_restore's script has a psql command pgwarden does not run: "
                                      f"{redact(core.decode('utf-8', 'replace'))[:200]}")
            return
        # pg_restore --single-transaction's own BEGIN and COMMIT: this connection's transaction is
        # pgwarden's, and so is its COMMIT.
        if core in (b"BEGIN;", b"COMMIT;"):
            return
        if self.mark_visible and _FK_HEADER in statement:
            self._mark_visible()
        if core.startswith((b"SET ", b"SELECT pg_catalog.set_config(")):
            name = setting_name(core)
            if name is not None and name not in self.known_settings:
                if name not in self.dropped:
                    self.dropped.append(name)
                return
        self.batch.append(statement)
        self.batch_size += len(statement)
        if self.batch_size >= BATCH_BYTES:
            self.flush()

    def _start_copy(self, header: bytes) -> None:
        if not self.splitter.at_boundary:
            raise OperationFailed("pgwarden could not follow pg_restore's script: a COPY inside a statement")
        self.flush()
        table = copy_table(header)
        if self.frozen is not None:
            header = self.frozen.header(header, table)
        self._copy_table = table
        self._copy_cm = self.cur.copy(header)
        self._copy = self._copy_cm.__enter__()

    def _end_copy(self) -> None:
        copy_cm, self._copy, self._copy_cm = self._copy_cm, None, None
        copy_cm.__exit__(None, None, None)
        self.loaded[self._copy_table] = self.loaded.get(self._copy_table, 0) + self.cur.rowcount

    def abandon(self) -> None:
        """Stop a COPY in progress without ending it (the connection is rolled back after)."""
        copy_cm, self._copy, self._copy_cm = self._copy_cm, None, None
        if copy_cm is not None:
            with contextlib.suppress(Exception):  # the restore has failed already: only stop the COPY
                copy_cm.__exit__(OperationFailed, OperationFailed("abandoned"), None)


def _commit(conn: psycopg.Connection[Any]) -> None:
    """COMMIT; when the connection breaks during it, nobody knows whether it happened: say so."""
    try:
        conn.commit()
    except psycopg.Error as exc:
        raise OperationFailed(
            f"the connection failed while the restore's COMMIT was on its way ({_server_error(exc)}): the "
            "database holds either exactly what it held before or exactly the backup, nothing in between",
            hint="run `pgwarden verify --restored-from BACKUP` to see which",
        ) from None


def _server_error(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = redact(str(exc).strip()) or type(exc).__name__
    if diag.sqlstate:
        text = f"{diag.severity or 'ERROR'} {diag.sqlstate}: {text}"
    if diag.context:
        text += "\n" + redact(diag.context.strip())
    return text


def restore_filtered(
    pg_restore: ClientProgram,
    target: DatabaseTarget,
    archive: Path,
    *,
    known_settings: set[str],
    clean: bool,
    compressed: bool = False,
    prelude: bytes = b"",
    postlude: bytes = b"",
    freeze: bool = True,
    before_commit: BeforeCommit | None = None,
    server_major: int | None = None,
) -> RestoreRun:
    """Archive -> SQL -> drop SETs of settings the server lacks -> one transaction of our own.

    ``prelude`` is SQL sent first, in the same transaction (the in-place restore empties the
    backup's schemas with it), so a failure anywhere later rolls it back too; ``postlude`` runs after
    the archive's SQL (the in-place restore puts the audit table back with it). ``freeze`` loads the
    tables the script creates with ``COPY ... FREEZE`` (see ``pgwarden.pg.script.FreezeTracker``).
    ``before_commit`` runs in the transaction (session settings reset) once everything loaded.
    ``server_major`` leaves the backup's planner statistics out where that server cannot take them.
    """
    # --single-transaction makes pg_restore write one BEGIN ... COMMIT around everything (dropped
    # here); without it, the script has its own BEGIN/COMMIT around large objects.
    render = [str(pg_restore.path), "--file=-", "--single-transaction", *statistics_args(pg_restore, server_major)]
    if clean:
        render += ["--clean", "--if-exists"]
    if not compressed:
        render.append(str(archive))
    base = target.params.get("options", os.environ.get("PGOPTIONS", ""))
    conn = connect(target, autocommit=False, options=(base + " " + RESTORE_SESSION_OPTIONS).strip())
    producer = subprocess.Popen(render, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **die_with_parent())
    try:
        return _run(producer, conn, archive, known_settings=known_settings, compressed=compressed,
                    sql=(prelude, postlude), frozen=FreezeTracker() if freeze else None, before_commit=before_commit,
                    server_major=server_major)
    finally:
        if producer.poll() is None:
            producer.kill()
        producer.wait()
        conn.close()  # without a COMMIT sent, closing rolls everything back


def _run(producer: subprocess.Popen[bytes], conn: psycopg.Connection[Any], archive: Path, *,
         known_settings: set[str], compressed: bool, sql: tuple[bytes, bytes], frozen: FreezeTracker | None,
         before_commit: BeforeCommit | None, server_major: int | None) -> RestoreRun:
    widen_pipe(producer.stdout)
    feeder = Feeder(archive, producer.stdin) if compressed else None
    producer_tail = Tail(producer.stderr)
    assert producer.stdout is not None
    runner = ScriptRunner(conn, known_settings, frozen, mark_visible=server_major is not None and server_major >= 18)
    prelude, postlude = sql
    try:
        runner.execute(prelude)
        for kind, data in script_events(producer.stdout):
            runner.take(kind, data)
        producer_rc = producer.wait()
        if feeder is not None:
            feeder.join()
            if feeder.error:
                producer_rc = producer_rc or 1
        # A failed render must never be committed: half a script is not the backup.
        if producer_rc != 0:
            runner.abandon()
            raise OperationFailed(f"pg_restore could not render the archive (exit {producer_rc}); "
                                  f"{ROLLED_BACK}:\n{producer_tail.text()}")
        runner.finish()
        runner.execute(b"RESET ALL")  # the script's session settings (search_path '') end here
        runner.execute(postlude)
        if before_commit is not None:
            before_commit(conn, runner.loaded)
        _commit(conn)
    except psycopg.Error as exc:
        runner.abandon()
        raise OperationFailed(f"the restore failed; {ROLLED_BACK}:\n{_server_error(exc)}") from None
    except BaseException:
        runner.abandon()
        raise
    finally:
        producer.stdout.close()
    method = ("pg_restore's script in one transaction on pgwarden's own connection, COMMIT after the "
              "row counts matched (settings unknown to this server dropped"
              + (f"; {frozen.count} of {len(runner.loaded)} tables loaded with COPY FREEZE)"
                 if frozen is not None else "; without COPY FREEZE)"))
    return RestoreRun(method, runner.dropped, runner.loaded)
