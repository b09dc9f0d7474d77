"""The parallel restore into a new database (``--into``, the drill): several sessions at once.

Nothing needs to stay atomic here, because a failure drops the new database: ``pg_restore
--section=pre-data`` (tables, no indexes), then the data section rendered as SQL and its rows dealt
out, in blocks, to ``restore.jobs`` connections of our own running COPY at once (so the rows of one
big table load in parallel too; the rest of the section goes through one psql session), then
``--section=post-data`` (indexes, constraints; ``--jobs`` for a directory archive).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
from pathlib import Path

import psycopg

from pgwarden.children import die_with_parent
from pgwarden.errors import OperationFailed
from pgwarden.pg.archive import Feeder, Tail, widen_pipe
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.pg.restore_session import (
    RESTORE_SESSION_OPTIONS,
    PsqlSession,
    RestoreRun,
    session_env,
    statistics_args,
)
from pgwarden.pg.script import copy_table, script_events
from pgwarden.redact import redact

#: blocks queued per loading session (bounds memory: sessions x blocks x SCRIPT_READ)
LOADER_QUEUE = 8


def restore_direct(
    pg_restore: ClientProgram, target: DatabaseTarget, archive: Path, *, jobs: int, clean: bool,
    compressed: bool = False, section: str | None = None, server_major: int | None = None,
) -> RestoreRun:
    """pg_restore into the database; any error stops it (``--exit-on-error``).

    A zstd-compressed custom archive is decompressed on the fly into pg_restore's stdin (no
    scratch copy) and restored as one transaction; a directory archive is restored in parallel.
    ``section`` restores only that part (``pre-data``, ``data``, ``post-data``).
    """
    args = [str(pg_restore.path), f"--dbname={target.child_dbname_arg()}", "--exit-on-error", "--no-password",
            *statistics_args(pg_restore, server_major)]
    if section:
        args.append(f"--section={section}")
    if clean:
        args += ["--clean", "--if-exists"]
    if jobs > 1 and archive.is_dir():
        args.append(f"--jobs={jobs}")
        method = f"pg_restore --jobs={jobs}"
    else:
        args.append("--single-transaction")
        method = "pg_restore --single-transaction" + (" (zstd streamed into stdin)" if compressed else "")
    if not compressed:
        args.append(str(archive))
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=session_env(target),
                            **die_with_parent())
    feeder = Feeder(archive, proc.stdin) if compressed else None
    tail = Tail(proc.stderr)
    returncode = proc.wait()
    if feeder is not None:
        feeder.join()
    stderr = tail.text()
    if returncode != 0:
        raise OperationFailed(f"pg_restore failed (exit {returncode}):\n{stderr or '(no error output)'}")
    if feeder is not None and feeder.error:
        raise OperationFailed(f"decompressing the archive failed: {feeder.error}")
    return RestoreRun(method)


class _Loader:
    """A data-loading session with its own writer thread, so a busy session never stalls the others."""

    def __init__(self, session: PsqlSession) -> None:
        self.session = session
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=LOADER_QUEUE)
        self.failed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.failed:
                continue  # keep taking: the router must never block on a dead session
            try:
                self.session.stdin.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.failed = True  # psql stopped on an error: its exit status and stderr say why

    def send(self, data: bytes) -> None:
        self.queue.put(data)


class _CopyLoader:
    """A connection of our own that runs the data section's COPYs, fed from a queue by a thread.

    The rows go from pg_restore's script straight to the server (``PQputCopyData``), without a
    psql in between: one process and one copy of every byte less per row. Settings lines of the
    script (``SET``, ``set_config``) run here too, so the rows are read with the archive's
    client_encoding and settings; psql meta-commands (``\\restrict``) and comments mean nothing
    outside psql and are skipped. ``counts`` holds each COPY's table and the row count the server
    reported for it (its ``COPY n`` command tag).
    """

    def __init__(self, target: DatabaseTarget) -> None:
        base = target.params.get("options", os.environ.get("PGOPTIONS", ""))
        self.conn = connect(target, options=(base + " " + RESTORE_SESSION_OPTIONS).strip())
        self.queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=LOADER_QUEUE)
        self.failed = False
        self.error = ""
        self.counts: list[tuple[str, int]] = []
        self.ended = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # noqa: BLE001 - any failure of this session fails the restore
            self.failed = True
            self.error = redact(str(exc).strip()) or type(exc).__name__
            while not self.ended:
                self._take()  # keep taking: the router must never block on a dead session

    def _take(self) -> tuple[str, bytes] | None:
        item = self.queue.get()
        if item is None:
            self.ended = True
        return item

    def _serve(self) -> None:
        with self.conn.cursor() as cur:
            while (item := self._take()) is not None:
                kind, data = item
                if kind == "sql":
                    cur.execute(data)
                    continue
                table = data.decode("utf-8", "replace")
                header = self._take()
                assert header is not None
                with cur.copy(header[1]) as copy:
                    while (item := self._take()) is not None and item[0] == "rows":
                        copy.write(item[1])
                    if item is None:
                        raise OperationFailed("the data stream ended inside a COPY")
                self.counts.append((table, cur.rowcount))

    def send(self, kind: str, data: bytes) -> None:
        self.queue.put((kind, data))

    def kill(self) -> None:
        self.failed = True
        with contextlib.suppress(psycopg.Error):  # already gone: nothing left to stop
            self.conn.cancel_safe(timeout=5)

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.conn.close()



def _cancel_all(other: _Loader, loaders: list[_CopyLoader]) -> None:
    """Stop every session mid-load: nothing they loaded may commit (the caller raises)."""
    other.failed = True
    other.session.kill()
    other.queue.put(None)
    for loader in loaders:
        loader.kill()
        loader.finish()

def _load_data(pg_restore: ClientProgram, psql: Path, target: DatabaseTarget, archive: Path, *,
               compressed: bool, sessions: int, server_major: int | None = None) -> dict[str, int]:
    """The archive's data section over ``sessions`` COPY connections; one table's rows are split between them.

    The rows are dealt out in blocks to our own connections (``_CopyLoader``); everything else of
    the section (sequence values, large objects, statistics) runs in order in one psql session,
    exactly as pg_restore rendered it.
    """
    loaders: list[_CopyLoader] = []
    try:
        for _ in range(max(1, sessions)):
            loaders.append(_CopyLoader(target))
    except BaseException:
        for loader in loaders:
            loader.finish()
        raise
    render = [str(pg_restore.path), "--file=-", "--section=data", *statistics_args(pg_restore, server_major)]
    render += [] if compressed else [str(archive)]
    producer = subprocess.Popen(render, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **die_with_parent())
    widen_pipe(producer.stdout)
    feeder = Feeder(archive, producer.stdin) if compressed else None
    producer_tail = Tail(producer.stderr)
    other = _Loader(PsqlSession(psql, target, single_transaction=False))
    assert producer.stdout is not None
    header = b""
    table = ""
    opened: list[_CopyLoader] = []
    turn = 0
    try:
        for kind, data in script_events(producer.stdout):
            if other.failed or any(loader.failed for loader in loaders):
                break
            if kind == "rows":
                # The least busy connection takes the next block (ties in turn): one slow session
                # does not hold the others back, and every session gets its share of a big table.
                turn += 1
                loader = min(loaders, key=lambda lo: (lo.queue.qsize(), (loaders.index(lo) - turn) % len(loaders)))
                if loader not in opened:
                    opened.append(loader)
                    loader.send("copy", table.encode())
                    loader.send("header", header)
                loader.send("rows", data)
            elif kind == "copy":
                header, table, opened = data, copy_table(data), []
            elif kind == "end":
                if not opened:  # an empty table: its COPY still runs, and reports 0 rows
                    opened.append(loaders[0])
                    loaders[0].send("copy", table.encode())
                    loaders[0].send("header", header)
                for loader in opened:
                    loader.send("end", b"")
                opened = []
            elif data.startswith((b"SET ", b"SELECT pg_catalog.set_config(")):
                # Session settings (client_encoding above all: the rows are in it) apply everywhere.
                other.send(data)
                for loader in loaders:
                    loader.send("sql", data)
            else:
                other.send(data)  # sequence values, large objects, statistics: in order, in psql
    except BaseException:
        producer.kill()
        producer.wait()
        _cancel_all(other, loaders)
        raise
    finally:
        producer.stdout.close()
    failed = other.failed or any(loader.failed for loader in loaders)
    if failed:
        producer.kill()
    producer_rc = producer.wait()
    if feeder is not None:
        feeder.join()
        if feeder.error and not failed:
            producer_rc = producer_rc or 1
    if producer_rc != 0 and not failed:
        # Never let a COPY end after half a render: its connection is cancelled instead.
        _cancel_all(other, loaders)
        raise OperationFailed(f"pg_restore could not render the archive (exit {producer_rc}):\n"
                              f"{producer_tail.text()}")
    other.queue.put(None)
    for loader in loaders:
        loader.finish()
    other.thread.join()
    code = other.session.finish()
    for loader in loaders:
        if loader.failed:
            raise OperationFailed(f"loading the data failed: {loader.error}")
    if code != 0:
        raise OperationFailed(f"loading the data failed (psql exit {code}):\n"
                              f"{other.session.tail.text() or '(no error output)'}")
    return _copied_rows([loader.counts for loader in loaders])


def _copied_rows(per_connection: list[list[tuple[str, int]]]) -> dict[str, int]:
    """Rows per table: the COPY results of every loading connection, summed."""
    loaded: dict[str, int] = {}
    for counts in per_connection:
        for name, count in counts:
            loaded[name] = loaded.get(name, 0) + count
    return loaded


def restore_parallel(
    pg_restore: ClientProgram, psql: Path, target: DatabaseTarget, archive: Path, *, jobs: int,
    compressed: bool = False, server_major: int | None = None,
) -> RestoreRun:
    """Restore into a new, empty database with ``jobs`` sessions loading the data at once.

    Not atomic (several sessions cannot share a transaction): only for ``--into`` and the drill,
    whose caller drops the new database when anything fails. Schema before data (tables without
    indexes or constraints), then the data section, whose rows, even those of one big table,
    are dealt out in blocks to ``jobs`` connections running COPY at once, then indexes and
    constraints (``--jobs`` for a directory archive; PostgreSQL also builds each index with
    parallel workers). Each step starts only after the previous one succeeded.
    """
    sessions = max(1, jobs)
    restore_direct(pg_restore, target, archive, jobs=1, clean=False, compressed=compressed, section="pre-data",
                   server_major=server_major)
    loaded = _load_data(pg_restore, psql, target, archive, compressed=compressed, sessions=sessions,
                        server_major=server_major)
    restore_direct(pg_restore, target, archive, jobs=jobs, clean=False, compressed=compressed,
                   section="post-data", server_major=server_major)
    return RestoreRun(f"schema, then data over {sessions} COPY connections (rows of each table split "
                      f"between them), then indexes and constraints"
                      + (" (zstd streamed into pg_restore)" if compressed else ""), loaded_rows=loaded)
