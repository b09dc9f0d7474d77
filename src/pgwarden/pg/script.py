"""pg_restore's SQL script, read as a stream: lines, COPY blocks, their tables, FREEZE.

``pg_restore --file=-`` renders an archive as the SQL psql would run. The restore paths
(``pgwarden.pg.restore_atomic``, ``pgwarden.pg.restore_parallel``) read it as events, in blocks
for the rows, and change it in two places only: settings the target server does not know are
dropped, and a COPY into a table the script created in the same transaction gets ``FREEZE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from pgwarden.names import QualifiedName

_SET_LINE = re.compile(rb"^SET ([a-z_][a-z0-9_.]*) = .*;\n?$")
_SET_CONFIG_LINE = re.compile(rb"^SELECT pg_catalog\.set_config\('([a-z_][a-z0-9_.]*)',.*;\n?$")
_COPY_START = re.compile(rb"^COPY .* FROM stdin;\n$")
#: bytes read from pg_restore's script at a time; blocks of COPY rows are at most this big
SCRIPT_READ = 1024 * 1024


def setting_name(line: bytes) -> str | None:
    """The setting a ``SET x = ...;`` or ``SELECT pg_catalog.set_config('x', ...);`` line sets."""
    match = _SET_LINE.match(line) or _SET_CONFIG_LINE.match(line)
    return match.group(1).decode() if match else None


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
    """The table at the start of ``text`` (``"s"."t" (...)`` or ``public.events (...``), in the
    manifest's form (:attr:`QualifiedName.text`), so COPY results and the manifest name a table alike."""
    parts: list[str] = []
    pos = 0
    while (match := _IDENT.match(text, pos)) is not None:
        parts.append(match.group(1).replace('""', '"') if match.group(1) is not None else match.group(2))
        pos = match.end()
        if not text.startswith(".", pos):
            break
        pos += 1
    if len(parts) < 2:  # pg_restore always qualifies; an unqualified name is read as written
        return ".".join(parts)
    return QualifiedName(parts[0], ".".join(parts[1:])).text


def copy_target(header: bytes) -> str:
    """The table of ``COPY "s"."t" (...) FROM stdin;`` as the script writes it (quoted where it must be)."""
    text = header.decode("utf-8", "replace")[len("COPY "):]
    pos = 0
    while (match := _IDENT.match(text, pos)) is not None:
        pos = match.end()
        if not text.startswith(".", pos):
            break
        pos += 1
    return text[:pos]


def copy_table(header: bytes) -> str:
    """``schema.table`` (as the manifest names it) from ``COPY "s"."t" (...) FROM stdin;``."""
    return _qualified_name(header.decode("utf-8", "replace")[len("COPY "):])


_CREATE_TABLE = re.compile(rb"^CREATE (?:UNLOGGED )?TABLE (.+)$")
#: how the server says a COPY ... FREEZE was not allowed (the retry without FREEZE looks for it)
FREEZE_REFUSED = "COPY FREEZE"


class FreezeTracker:
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
        #: the tables loaded frozen, as the script names them (input for ``regclass``)
        self.tables: list[str] = []

    def see(self, line: bytes) -> None:
        if line.startswith(b"CREATE ") and (match := _CREATE_TABLE.match(line)):
            self.last = _qualified_name(match.group(1).decode("utf-8", "replace"))
            self.created.add(self.last)
        elif line.startswith(b"PARTITION BY ") and self.last is not None:
            self.created.discard(self.last)

    def header(self, header: bytes, table: str) -> bytes:
        if table in self.created and header.endswith(b" FROM stdin;\n"):
            self.count += 1
            self.tables.append(copy_target(header))
            return header[:-2] + b" WITH (FREEZE);\n"
        return header


