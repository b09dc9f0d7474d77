"""Run pg_restore: archive listing (verification) and the two ways of restoring.

- Through psql (every in-place restore, and any restore into an older server than the pg_dump
  that wrote the archive): the archive is rendered as SQL (``pg_restore -f - --single-transaction``),
  ``SET`` lines for settings the target server does not have are dropped (pg_dump 17+ writes
  ``SET transaction_timeout = 0;`` which PostgreSQL 15 rejects; the list comes from the target's
  own ``pg_settings``), an optional prelude is put first (the in-place restore empties the backup's
  schemas with it), and all of it runs in ``psql -v ON_ERROR_STOP=1 --single-transaction``: any
  error rolls everything back, and the COMMIT happens only once pg_restore has exited cleanly.
- ``pg_restore`` straight into a new database (``--into``): ``--exit-on-error``, in parallel
  (``--jobs``) for a directory archive, else as one transaction.

Restoring sessions get ``PGOPTIONS`` that make bulk loading cheaper (no synchronous commit
wait, big maintenance_work_mem for index builds). The password travels in ``PGPASSWORD``.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import zstandard

from pgwarden.errors import OperationFailed
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget
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


def restore_direct(
    pg_restore: ClientProgram, target: DatabaseTarget, archive: Path, *, jobs: int, clean: bool,
    compressed: bool = False,
) -> RestoreRun:
    """pg_restore into the database; any error stops it (``--exit-on-error``).

    A zstd-compressed custom archive is decompressed on the fly into pg_restore's stdin (no
    scratch copy) and restored as one transaction; a directory archive is restored in parallel.
    """
    args = [str(pg_restore.path), f"--dbname={target.child_dbname_arg()}", "--exit-on-error", "--no-password"]
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
) -> RestoreRun:
    """Archive -> SQL -> drop SETs of settings the server lacks -> psql, in one transaction.

    ``prelude`` is SQL sent first, in the same transaction (the in-place restore empties the
    backup's schemas with it), so a failure anywhere later rolls it back too.
    """
    # --single-transaction makes pg_restore write one BEGIN ... COMMIT around everything; without
    # it, the script has its own BEGIN/COMMIT around large objects, and that COMMIT would end
    # psql's transaction half-way, leaving the rest to autocommit.
    render = [str(pg_restore.path), "--file=-", "--single-transaction"]
    if clean:
        render += ["--clean", "--if-exists"]
    if not compressed:
        render.append(str(archive))
    apply = [str(psql), f"--dbname={target.child_dbname_arg()}", "--no-psqlrc", "--quiet", "--no-password",
             "--set=ON_ERROR_STOP=1", "--single-transaction", "--output=/dev/null"]
    producer = subprocess.Popen(render, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = _Feeder(archive, producer.stdin) if compressed else None
    consumer = subprocess.Popen(apply, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=_env(target))
    producer_tail = _Tail(producer.stderr)
    consumer_tail = _Tail(consumer.stderr)
    dropped: list[str] = []
    assert producer.stdout is not None and consumer.stdin is not None
    in_copy = False
    psql_stopped = False
    # pg_restore's final COMMIT is held back until its exit status is known: a COMMIT inside a
    # routine body is followed by more SQL and goes through; the real one is dropped at the end
    # and psql --single-transaction commits only once we let it reach end of input.
    held_commit = False
    try:
        if prelude:
            consumer.stdin.write(prelude)
        for line in producer.stdout:
            if held_commit and not (line == b"\n" or line.startswith((b"--", b"\\unrestrict "))):
                consumer.stdin.write(b"COMMIT;\n")
                held_commit = False
            if line == b"COMMIT;\n" and not in_copy:
                held_commit = True
                continue
            if in_copy:
                if line == b"\\.\n":
                    in_copy = False
            elif line.startswith(b"COPY ") and _COPY_START.match(line):
                in_copy = True
            elif line.startswith((b"SET ", b"SELECT pg_catalog.set_config(")):
                match = _SET_LINE.match(line) or _SET_CONFIG_LINE.match(line)
                if match and match.group(1).decode() not in known_settings:
                    name = match.group(1).decode()
                    if name not in dropped:
                        dropped.append(name)
                    continue
            consumer.stdin.write(line)
    except BrokenPipeError:
        psql_stopped = True  # psql stopped on an error: reported below
    except BaseException:
        for proc in (producer, consumer):
            proc.kill()
            proc.wait()
        _close_quietly(consumer.stdin)
        raise
    finally:
        producer.stdout.close()
    if psql_stopped:
        _close_quietly(consumer.stdin)
        producer.kill()
        producer.wait()
        consumer_rc = consumer.wait()
        raise OperationFailed(
            f"the restore failed; {ROLLED_BACK} (psql exit {consumer_rc}):\n"
            f"{consumer_tail.text() or '(no error output)'}"
        )
    # A failed render must never reach psql as end-of-input: that would COMMIT half a restore.
    # Killing psql instead drops its connection, and the server rolls the transaction back.
    producer_rc = producer.wait()
    if feeder is not None:
        feeder.join()
        if feeder.error:
            producer_rc = producer_rc or 1
    if producer_rc != 0:
        consumer.kill()
        consumer.wait()
        _close_quietly(consumer.stdin)
        raise OperationFailed(f"pg_restore could not render the archive (exit {producer_rc}); {ROLLED_BACK}:"
                              f"\n{producer_tail.text()}")
    _close_quietly(consumer.stdin)
    consumer_rc = consumer.wait()
    if consumer_rc != 0:
        raise OperationFailed(
            f"the restore failed; {ROLLED_BACK} (psql exit {consumer_rc}):\n"
            f"{consumer_tail.text() or '(no error output)'}"
        )
    return RestoreRun("pg_restore | psql --single-transaction (settings unknown to this server dropped)",
                      dropped)
