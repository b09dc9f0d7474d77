"""Run pg_restore: archive listing (verification) and the two ways of restoring.

- Through psql (every in-place restore, and any restore into an older server than the pg_dump
  that wrote the archive): the archive is rendered as SQL (``pg_restore -f - --single-transaction``),
  ``SET`` lines for settings the target server does not have are dropped (pg_dump 17+ writes
  ``SET transaction_timeout = 0;`` which PostgreSQL 15 rejects; the list comes from the target's
  own ``pg_settings``), an optional prelude is put first (the in-place restore empties the backup's
  schemas with it), and all of it runs in ``psql -v ON_ERROR_STOP=1 --single-transaction``: any
  error rolls everything back, and the COMMIT happens only once pg_restore has exited cleanly.
- Into a new database (``--into``, the drill), where nothing needs to stay atomic because a failure
  drops the database: ``pg_restore --section=pre-data`` (tables, no indexes), then the data section
  rendered as SQL and its rows dealt out, in blocks, to ``restore.jobs`` connections of our own
  running COPY at once (so the rows of one big table load in parallel too; the rest of the section
  goes through one psql session), then ``--section=post-data`` (indexes, constraints; ``--jobs``
  for a directory archive).

Both report the rows each table received from the ``COPY n`` command tags (the server's own
count, exact), which the caller compares with the manifest instead of running ``count(*)`` again.

Restoring sessions get ``PGOPTIONS`` that make bulk loading cheaper (no synchronous commit
wait, big maintenance_work_mem for index builds). The password travels in ``PGPASSWORD``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
import zstandard

from pgwarden.errors import OperationFailed
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.redact import redact

RESTORE_SESSION_OPTIONS = (
    "-c synchronous_commit=off -c maintenance_work_mem=512MB -c work_mem=64MB "
    "-c max_parallel_maintenance_workers=2"
)
#: How every failure of a single-transaction restore ends, said plainly for the responder.
ROLLED_BACK = "nothing was changed: the restore ran in one transaction and was rolled back"
_SET_LINE = re.compile(rb"^SET ([a-z_][a-z0-9_.]*) = .*;\n?$")
_SET_CONFIG_LINE = re.compile(rb"^SELECT pg_catalog\.set_config\('([a-z_][a-z0-9_.]*)',.*;\n?$")
_COPY_START = re.compile(rb"^COPY .* FROM stdin;\n$")
_COPY_TAG = re.compile(rb"^COPY (\d+)\n?$")
#: bytes read from pg_restore's script at a time; blocks of COPY rows are at most this big
SCRIPT_READ = 1024 * 1024
PIPE_BYTES = 1024 * 1024
#: blocks queued per loading session (bounds memory: sessions x blocks x SCRIPT_READ)
LOADER_QUEUE = 8


def _env(target: DatabaseTarget) -> dict[str, str]:
    env = target.child_env()
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " " + RESTORE_SESSION_OPTIONS).strip()
    return env


class _Tail:
    """Keeps the last lines of a child's stderr (redacted) in a thread."""

    def __init__(self, stream: IO[bytes] | None, keep: int = 30) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.all_errors: list[str] = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                line = redact(raw.decode("utf-8", "replace").rstrip())
                self.lines.append(line)
                if "error" in line.lower() and len(self.all_errors) < 100:
                    self.all_errors.append(line)
        finally:
            stream.close()

    def text(self) -> str:
        self.thread.join(timeout=10)
        return "\n".join(self.lines)


@dataclass
class ArchiveListing:
    entries: int
    table_data: int


def list_archive(pg_restore: ClientProgram, archive: Path | None, data: IO[bytes] | None = None) -> ArchiveListing:
    """``pg_restore --list`` of a file or folder (succeeds only for a readable archive)."""
    args = [str(pg_restore.path), "--list"]
    if archive is not None:
        args.append(str(archive))
    result = subprocess.run(args, capture_output=True, check=False, stdin=data)
    if result.returncode != 0:
        message = redact(result.stderr.decode("utf-8", "replace").strip())
        raise OperationFailed(f"pg_restore --list cannot read the archive: {message}")
    return parse_listing(result.stdout.decode("utf-8", "replace"))


def read_toc(pg_restore: ClientProgram, archive: Path, *, compressed: bool = False) -> str:
    """The ``pg_restore --list`` text of an archive (a zstd-compressed one is streamed in)."""
    args = [str(pg_restore.path), "--list"] + ([] if compressed else [str(archive)])
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = _Feeder(archive, proc.stdin) if compressed else None
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
    for reader in readers:
        reader.start()
    returncode = proc.wait()
    if feeder is not None:
        feeder.join()  # pg_restore --list stops reading after the TOC: the feeder sees a closed pipe
    for reader in readers:
        reader.join()
    if returncode != 0:
        message = redact(b"".join(err).decode("utf-8", "replace").strip())
        raise OperationFailed(f"pg_restore --list cannot read the archive: {message}; the database was not touched")
    return b"".join(out).decode("utf-8", "replace")


def parse_listing(text: str) -> ArchiveListing:
    entries = [line for line in text.splitlines() if line and not line.startswith(";")]
    return ArchiveListing(entries=len(entries), table_data=sum(" TABLE DATA " in e for e in entries))


class _Feeder:
    """Streams a zstd-compressed archive, decompressed, into a child's stdin (in a thread)."""

    def __init__(self, compressed: Path, stdin: IO[bytes] | None) -> None:
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, args=(compressed, stdin), daemon=True)
        self.thread.start()

    def _run(self, compressed: Path, stdin: IO[bytes] | None) -> None:
        assert stdin is not None
        try:
            with open(compressed, "rb") as source:
                zstandard.ZstdDecompressor().copy_stream(source, stdin, write_size=1024 * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader stopped: its exit status says why
        except (OSError, zstandard.ZstdError) as exc:
            self.error = str(exc)
        finally:
            _close_quietly(stdin)

    def join(self) -> None:
        self.thread.join()


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is None:
        return
    try:
        stream.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _drain(stream: IO[bytes] | None, into: list[bytes]) -> None:
    if stream is None:
        return
    with stream:
        into.append(stream.read())


class ListingFeed:
    """``pg_restore --list`` reading the archive from stdin while we stream it (backup verification)."""

    def __init__(self, pg_restore: ClientProgram) -> None:
        self.proc = subprocess.Popen(
            [str(pg_restore.path), "--list"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.closed = False
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._threads = [
            threading.Thread(target=_drain, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=_drain, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # pg_restore --list stops reading after the table of contents: that is fine.
            self.closed = True

    def finish(self) -> ArchiveListing:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
        returncode = self.proc.wait()
        for thread in self._threads:
            thread.join()
        if returncode != 0:
            message = redact(b"".join(self._err).decode("utf-8", "replace").strip())
            raise OperationFailed(f"pg_restore --list cannot read the archive: {message}")
        return parse_listing(b"".join(self._out).decode("utf-8", "replace"))

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@dataclass
class RestoreRun:
    method: str
    dropped_settings: list[str] = field(default_factory=list)
    #: rows each table received, from the server's own ``COPY n`` command tags (exact, summed over
    #: sessions); None when they could not be matched to tables (then the caller counts)
    loaded_rows: dict[str, int] | None = None


def _widen_pipe(stream: IO[bytes] | None) -> None:
    """Ask for a 1 MiB pipe (Linux): fewer wake-ups per MB moved between the programs."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if stream is None or set_size is None:
        return
    try:
        fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)
    except OSError:
        pass  # capped by /proc/sys/fs/pipe-max-size for unprivileged users: the default works too


def script_events(stream: IO[bytes]) -> Iterator[tuple[str, bytes]]:
    """Split the SQL script pg_restore writes into ``sql`` lines, ``copy`` headers, ``rows``, ``end``.

    Outside a ``COPY ... FROM stdin;`` block the script goes line by line (the settings filter and
    the held-back COMMIT need whole lines; there are few). Inside, rows are passed on as blocks of
    whole lines (at most a read's worth): a data line can never be ``\\.`` itself (COPY text format
    escapes backslashes), so the block ends at the first ``\\.`` line, found with one ``find``
    instead of a Python step per row.
    """
    buf = b""
    in_copy = False
    while True:
        data = stream.read1(SCRIPT_READ)  # type: ignore[attr-defined]
        buf = buf + data if buf else data
        pos = 0
        while pos < len(buf):
            if not in_copy:
                newline = buf.find(b"\n", pos)
                if newline < 0:
                    break
                line = buf[pos:newline + 1]
                pos = newline + 1
                if line.startswith(b"COPY ") and _COPY_START.match(line):
                    in_copy = True
                    yield "copy", line
                else:
                    yield "sql", line
                continue
            if buf.startswith(b"\\.\n", pos):
                in_copy = False
                pos += 3
                yield "end", b"\\.\n"
                continue
            stop = buf.find(b"\n\\.\n", pos)
            if stop < 0:
                stop = buf.rfind(b"\n", pos)
                if stop < 0:
                    break
            yield "rows", buf[pos:stop + 1]
            pos = stop + 1
        buf = buf[pos:]
        if not data:
            if buf:
                yield ("rows" if in_copy else "sql"), buf
            return


_IDENT = re.compile(r'"((?:[^"]|"")*)"|([^".\s(]+)')


def _qualified_name(text: str) -> str:
    """``schema.table`` (unquoted) from the start of ``text``: ``"s"."t" (...)`` or ``public.events (...``."""
    parts: list[str] = []
    pos = 0
    while (match := _IDENT.match(text, pos)) is not None:
        parts.append(match.group(1).replace('""', '"') if match.group(1) is not None else match.group(2))
        pos = match.end()
        if not text.startswith(".", pos):
            break
        pos += 1
    return ".".join(parts)


def copy_table(header: bytes) -> str:
    """``schema.table`` (unquoted, as the manifest names it) from ``COPY "s"."t" (...) FROM stdin;``."""
    return _qualified_name(header.decode("utf-8", "replace")[len("COPY "):])


_CREATE_TABLE = re.compile(rb"^CREATE (?:UNLOGGED )?TABLE (.+)$")
#: how the server says a COPY ... FREEZE was not allowed (the retry without FREEZE looks for it)
FREEZE_REFUSED = "COPY FREEZE"


class _FreezeTracker:
    """Which COPYs of a single-transaction script may load with ``FREEZE``.

    ``COPY ... FREEZE`` writes the rows already frozen and their pages all-visible, so the restored
    database is not rewritten by its first reads: without it, the first ``count(*)`` of the
    benchmark's 2M-row table after a restore took 0.76 s and wrote 490 MB of WAL (hint bits, as
    full-page images with data checksums on); with it, 0.09 s and nothing. No freezing vacuum later
    either, and index-only scans work at once. The server allows it only for a plain table
    created in the same transaction, so a COPY gets it only when this script created its table
    with ``CREATE [UNLOGGED] TABLE`` and did not make it partitioned (``PARTITION BY`` on the line
    after; pg_dump loads some partitioned tables through the root). Should the server still refuse,
    the caller restores again without it.
    """

    def __init__(self) -> None:
        self.created: set[str] = set()
        self.last: str | None = None
        self.count = 0

    def see(self, line: bytes) -> None:
        if line.startswith(b"CREATE ") and (match := _CREATE_TABLE.match(line)):
            self.last = _qualified_name(match.group(1).decode("utf-8", "replace"))
            self.created.add(self.last)
        elif line.startswith(b"PARTITION BY ") and self.last is not None:
            self.created.discard(self.last)

    def header(self, header: bytes, table: str) -> bytes:
        if table in self.created and header.endswith(b" FROM stdin;\n"):
            self.count += 1
            return header[:-2] + b" WITH (FREEZE);\n"
        return header


class _CopyTags:
    """Reads psql's standard output in a thread and keeps the ``COPY n`` command tags, in order.

    psql (not ``--quiet``) prints one tag per statement; result rows of the few SELECTs in a
    script (``setval``, ``set_config``) are printed aligned, i.e. behind a space, so a line that
    is exactly ``COPY n`` is a tag.
    """

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.counts: list[int] = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        try:
            for line in stream:
                match = _COPY_TAG.match(line)
                if match:
                    self.counts.append(int(match.group(1)))
        finally:
            stream.close()

    def result(self) -> list[int]:
        self.thread.join(timeout=10)
        return self.counts


class _Session:
    """One ``psql -v ON_ERROR_STOP=1`` session fed through its stdin, with the bulk-load settings.

    ``copies`` lists the table of every COPY sent to it, in order, so its command tags can be
    matched to tables afterwards.
    """

    def __init__(self, psql: Path, target: DatabaseTarget, *, single_transaction: bool) -> None:
        args = [str(psql), f"--dbname={target.child_dbname_arg()}", "--no-psqlrc", "--no-password",
                "--set=ON_ERROR_STOP=1"] + (["--single-transaction"] if single_transaction else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=_env(target))
        assert self.proc.stdin is not None
        self.stdin: IO[bytes] = self.proc.stdin
        _widen_pipe(self.stdin)
        self.tail = _Tail(self.proc.stderr)
        self.tags = _CopyTags(self.proc.stdout)
        self.copies: list[str] = []
        self.in_copy: str | None = None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        _close_quietly(self.stdin)

    def finish(self) -> int:
        _close_quietly(self.stdin)
        return self.proc.wait()


def _loaded_rows(sessions: list[_Session]) -> dict[str, int] | None:
    """Rows per table from the sessions' COPY tags; None unless every COPY has its tag."""
    loaded: dict[str, int] = {}
    for session in sessions:
        counts = session.tags.result()
        if len(counts) != len(session.copies):
            return None
        for table, count in zip(session.copies, counts, strict=True):
            loaded[table] = loaded.get(table, 0) + count
    return loaded


def restore_direct(
    pg_restore: ClientProgram, target: DatabaseTarget, archive: Path, *, jobs: int, clean: bool,
    compressed: bool = False, section: str | None = None,
) -> RestoreRun:
    """pg_restore into the database; any error stops it (``--exit-on-error``).

    A zstd-compressed custom archive is decompressed on the fly into pg_restore's stdin (no
    scratch copy) and restored as one transaction; a directory archive is restored in parallel.
    ``section`` restores only that part (``pre-data``, ``data``, ``post-data``).
    """
    args = [str(pg_restore.path), f"--dbname={target.child_dbname_arg()}", "--exit-on-error", "--no-password"]
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
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(target))
    feeder = _Feeder(archive, proc.stdin) if compressed else None
    tail = _Tail(proc.stderr)
    returncode = proc.wait()
    if feeder is not None:
        feeder.join()
    stderr = tail.text()
    if returncode != 0:
        raise OperationFailed(f"pg_restore failed (exit {returncode}):\n{stderr or '(no error output)'}")
    if feeder is not None and feeder.error:
        raise OperationFailed(f"decompressing the archive failed: {feeder.error}")
    return RestoreRun(method)


def restore_filtered(
    pg_restore: ClientProgram,
    psql: Path,
    target: DatabaseTarget,
    archive: Path,
    *,
    known_settings: set[str],
    clean: bool,
    compressed: bool = False,
    prelude: bytes = b"",
    freeze: bool = True,
) -> RestoreRun:
    """Archive -> SQL -> drop SETs of settings the server lacks -> psql, in one transaction.

    ``prelude`` is SQL sent first, in the same transaction (the in-place restore empties the
    backup's schemas with it), so a failure anywhere later rolls it back too. ``freeze`` loads the
    tables the script creates with ``COPY ... FREEZE`` (see ``_FreezeTracker``).
    """
    # --single-transaction makes pg_restore write one BEGIN ... COMMIT around everything; without
    # it, the script has its own BEGIN/COMMIT around large objects, and that COMMIT would end
    # psql's transaction half-way, leaving the rest to autocommit.
    render = [str(pg_restore.path), "--file=-", "--single-transaction"]
    if clean:
        render += ["--clean", "--if-exists"]
    if not compressed:
        render.append(str(archive))
    producer = subprocess.Popen(render, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _widen_pipe(producer.stdout)
    feeder = _Feeder(archive, producer.stdin) if compressed else None
    session = _Session(psql, target, single_transaction=True)
    consumer = session.proc
    producer_tail = _Tail(producer.stderr)
    dropped: list[str] = []
    assert producer.stdout is not None
    write = session.stdin.write
    psql_stopped = False
    # pg_restore's final COMMIT is held back until its exit status is known: a COMMIT inside a
    # routine body is followed by more SQL and goes through; the real one is dropped at the end
    # and psql --single-transaction commits only once we let it reach end of input.
    held_commit = False
    frozen = _FreezeTracker() if freeze else None
    try:
        if prelude:
            write(prelude)
        for kind, data in script_events(producer.stdout):
            if kind == "rows" or kind == "end":
                write(data)
                continue
            if held_commit and not (data == b"\n" or data.startswith((b"--", b"\\unrestrict "))):
                write(b"COMMIT;\n")
                held_commit = False
            if kind == "copy":
                session.copies.append(copy_table(data))
                if frozen is not None:
                    data = frozen.header(data, session.copies[-1])
            elif data == b"COMMIT;\n":
                held_commit = True
                continue
            elif data.startswith((b"SET ", b"SELECT pg_catalog.set_config(")):
                match = _SET_LINE.match(data) or _SET_CONFIG_LINE.match(data)
                if match and match.group(1).decode() not in known_settings:
                    name = match.group(1).decode()
                    if name not in dropped:
                        dropped.append(name)
                    continue
            elif frozen is not None:
                frozen.see(data)
            write(data)
    except BrokenPipeError:
        psql_stopped = True  # psql stopped on an error: reported below
    except BaseException:
        producer.kill()
        producer.wait()
        session.kill()
        raise
    finally:
        producer.stdout.close()
    if psql_stopped:
        _close_quietly(session.stdin)
        producer.kill()
        producer.wait()
        consumer_rc = consumer.wait()
        raise OperationFailed(
            f"the restore failed; {ROLLED_BACK} (psql exit {consumer_rc}):\n"
            f"{session.tail.text() or '(no error output)'}"
        )
    # A failed render must never reach psql as end-of-input: that would COMMIT half a restore.
    # Killing psql instead drops its connection, and the server rolls the transaction back.
    producer_rc = producer.wait()
    if feeder is not None:
        feeder.join()
        if feeder.error:
            producer_rc = producer_rc or 1
    if producer_rc != 0:
        session.kill()
        raise OperationFailed(f"pg_restore could not render the archive (exit {producer_rc}); {ROLLED_BACK}:"
                              f"\n{producer_tail.text()}")
    consumer_rc = session.finish()
    if consumer_rc != 0:
        raise OperationFailed(
            f"the restore failed; {ROLLED_BACK} (psql exit {consumer_rc}):\n"
            f"{session.tail.text() or '(no error output)'}"
        )
    return RestoreRun("pg_restore | psql --single-transaction (settings unknown to this server dropped"
                      + (f"; {frozen.count} of {len(session.copies)} tables loaded with COPY FREEZE)"
                         if frozen is not None else "; without COPY FREEZE)"),
                      dropped, _loaded_rows([session]))


class _Loader:
    """A data-loading session with its own writer thread, so a busy session never stalls the others."""

    def __init__(self, session: _Session) -> None:
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


def _load_data(pg_restore: ClientProgram, psql: Path, target: DatabaseTarget, archive: Path, *,
               compressed: bool, sessions: int) -> dict[str, int]:
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
    render = [str(pg_restore.path), "--file=-", "--section=data"] + ([] if compressed else [str(archive)])
    producer = subprocess.Popen(render, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _widen_pipe(producer.stdout)
    feeder = _Feeder(archive, producer.stdin) if compressed else None
    producer_tail = _Tail(producer.stderr)
    other = _Loader(_Session(psql, target, single_transaction=False))
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
        other.failed = True
        other.session.kill()
        other.queue.put(None)
        for loader in loaders:
            loader.kill()
            loader.finish()
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
        other.failed = True
        other.session.kill()
        other.queue.put(None)
        for loader in loaders:
            loader.kill()
            loader.finish()
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
    compressed: bool = False,
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
    restore_direct(pg_restore, target, archive, jobs=1, clean=False, compressed=compressed, section="pre-data")
    loaded = _load_data(pg_restore, psql, target, archive, compressed=compressed, sessions=sessions)
    restore_direct(pg_restore, target, archive, jobs=jobs, clean=False, compressed=compressed,
                   section="post-data")
    return RestoreRun(f"schema, then data over {sessions} COPY connections (rows of each table split "
                      f"between them), then indexes and constraints"
                      + (" (zstd streamed into pg_restore)" if compressed else ""), loaded_rows=loaded)
