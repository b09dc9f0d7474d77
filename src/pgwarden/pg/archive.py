"""Reading pg_dump archives with pg_restore: listings, the table of contents, zstd streamed in.

Shared by the backup (which verifies what it stored with ``pg_restore --list``) and the restore
paths (``pgwarden.pg.restore_atomic``, ``pgwarden.pg.restore_parallel``), which feed a
zstd-compressed archive to pg_restore's stdin decompressed on the fly instead of writing it out.
Also the threads that read a child program's output while it runs (``LineReader``, ``Tail``).
"""

from __future__ import annotations

import fcntl
import subprocess
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import zstandard

from pgwarden.children import die_with_parent
from pgwarden.errors import OperationFailed
from pgwarden.pg.binaries import ClientProgram
from pgwarden.redact import redact

PIPE_BYTES = 1024 * 1024


class LineReader(ABC):
    """Reads a child's output line by line in a thread; a subclass says what to keep (``take``).

    A subclass sets up what it keeps before calling ``__init__``: the thread starts there.
    """

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                self.take(raw)
        finally:
            stream.close()

    @abstractmethod
    def take(self, raw: bytes) -> None:
        """Keep what matters of one line of output."""


class Tail(LineReader):
    """Keeps the last lines of a child's stderr (redacted) in a thread."""

    def __init__(self, stream: IO[bytes] | None, keep: int = 30) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.all_errors: list[str] = []
        super().__init__(stream)

    def take(self, raw: bytes) -> None:
        line = redact(raw.decode("utf-8", "replace").rstrip())
        self.lines.append(line)
        if "error" in line.lower() and len(self.all_errors) < 100:
            self.all_errors.append(line)

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
    result = subprocess.run(args, capture_output=True, check=False, stdin=data, **die_with_parent())
    if result.returncode != 0:
        message = redact(result.stderr.decode("utf-8", "replace").strip())
        raise OperationFailed(f"pg_restore --list cannot read the archive: {message}")
    return parse_listing(result.stdout.decode("utf-8", "replace"))


def read_toc(pg_restore: ClientProgram, archive: Path, *, compressed: bool = False) -> str:
    """The ``pg_restore --list`` text of an archive (a zstd-compressed one is streamed in)."""
    args = [str(pg_restore.path), "--list"] + ([] if compressed else [str(archive)])
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **die_with_parent())
    feeder = Feeder(archive, proc.stdin) if compressed else None
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


class Feeder:
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
            close_quietly(stdin)

    def join(self) -> None:
        self.thread.join()


def close_quietly(stream: IO[bytes] | None) -> None:
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
            stderr=subprocess.PIPE, **die_with_parent(),
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
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass  # a broken pipe: pg_restore is gone anyway


def widen_pipe(stream: IO[bytes] | None) -> None:
    """Ask for a 1 MiB pipe (Linux): fewer wake-ups per MB moved between the programs."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if stream is None or set_size is None:
        return
    try:
        fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)
    except OSError:
        pass  # capped by /proc/sys/fs/pipe-max-size for unprivileged users: the default works too


