"""Where the statements of pg_restore's SQL script end, read the way psql reads them.

The atomic restore (:mod:`pgwarden.pg.restore_atomic`) runs the script on a connection of its own
instead of psql, so it has to know what psql knows: where a statement ends (a ``;`` outside
quotes, comments and dollar-quoted bodies, and outside the ``BEGIN ... END`` of a SQL-standard
routine body), and which lines are psql meta-commands (a ``\\`` at the start of a statement).

The rules follow psql's lexer (``psqlscan.l``) for what pg_dump writes: ``'...'`` strings (with
``standard_conforming_strings = on``, which pg_dump always sets, a backslash is an ordinary
character), ``E'...'`` strings with backslash escapes, ``"..."`` identifiers, ``$tag$...$tag$``
bodies, ``--`` and nested ``/* */`` comments, parentheses, and psql's heuristic for
``CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_$\x80-\xff]")
# What can change the lexer's state outside quotes and comments.
_TOKEN = re.compile(rb"""'|"|--|/\*|;|\(|\)|\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$"""
                    rb"""|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*""")
_ROUTINE_START = re.compile(rb"create\s+(?:or\s+replace\s+)?(?:function|procedure)\b", re.IGNORECASE)
_ESCAPE_STRING_STOP = re.compile(rb"['\\]")
_COMMENT_TOKEN = re.compile(rb"/\*|\*/")


class StatementSplitter:
    """Feed the script line by line; it yields each complete statement (or meta-command line).

    ``feed`` returns the statements that ended on that line, as bytes, comments and all, so
    nothing is lost or reordered; a psql meta-command (``\\restrict KEY``) is yielded alone,
    starting with a backslash. ``pending`` is the text of a statement not ended yet.
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.quote: bytes | None = None  # b"'", b"E", b'"', b"$tag$", b"/*"
        self.comment_depth = 0
        self.paren_depth = 0
        self.begin_depth = 0
        self.routine: bool | None = None  # None: the statement's first word is not read yet
        self.has_text = False  # anything but whitespace and comments since the last statement

    @property
    def pending(self) -> bytes:
        return bytes(self.buf)

    @property
    def at_boundary(self) -> bool:
        """Between statements: only whitespace and comments since the last one ended."""
        return self.quote is None and not self.has_text

    def feed(self, line: bytes) -> Iterator[bytes]:
        if self.at_boundary and line.lstrip(b" \t").startswith(b"\\"):
            self.buf.clear()
            yield line
            return
        start = len(self.buf)
        self.buf += line
        pos = start
        end = len(self.buf)
        data = self.buf
        while pos < end:
            if self.quote is not None:
                pos = self._skip_quoted(data, pos)
                continue
            match = _TOKEN.search(data, pos)
            if match is None:
                break
            token = match.group()
            pos = match.end()
            first = token[:1]
            if token not in (b"--", b"/*"):
                self.has_text = True
            if first == b"'":
                before = data[match.start() - 1:match.start()] if match.start() > 0 else b""
                escaped = before in (b"e", b"E") and (match.start() < 2 or not _IDENT_CHAR.match(
                    data, match.start() - 2))
                self.quote = b"E" if escaped else b"'"
            elif first == b'"':
                self.quote = b'"'
            elif token == b"--":
                newline = data.find(b"\n", pos)
                pos = end if newline < 0 else newline + 1
            elif token == b"/*":
                self.quote, self.comment_depth = b"/*", 1
            elif first == b"$":
                if match.start() > 0 and _IDENT_CHAR.match(data, match.start() - 1):
                    pos = match.start() + 1  # part of an identifier such as a$b$: not a quote
                    continue
                self.quote = token
            elif token == b"(":
                self.paren_depth += 1
            elif token == b")":
                self.paren_depth = max(0, self.paren_depth - 1)
            elif token == b";":
                if self.paren_depth == 0 and self.begin_depth == 0:
                    statement = bytes(data[:pos])
                    del data[:pos]
                    end = len(data)
                    pos = 0
                    self.routine = None
                    self.has_text = False
                    yield statement
            else:
                self._word(token, data, match.start())

    def _word(self, word: bytes, data: bytearray, start: int) -> None:
        """psql's heuristic: in CREATE FUNCTION/PROCEDURE, BEGIN ... END (and CASE ... END) nest."""
        if self.routine is None:
            self.routine = bool(_ROUTINE_START.match(data, start))
        if not self.routine or self.paren_depth:
            return
        lowered = word.lower()
        if lowered == b"begin":
            self.begin_depth += 1
        elif lowered == b"case" and self.begin_depth:
            self.begin_depth += 1
        elif lowered == b"end" and self.begin_depth:
            self.begin_depth -= 1

    def _skip_quoted(self, data: bytearray, pos: int) -> int:
        quote = self.quote
        assert quote is not None
        if quote == b"/*":
            while (match := _COMMENT_TOKEN.search(data, pos)) is not None:
                pos = match.end()
                self.comment_depth += 1 if match.group() == b"/*" else -1
                if self.comment_depth == 0:
                    self.quote = None
                    return pos
            return len(data)
        if quote == b"E":
            while (match := _ESCAPE_STRING_STOP.search(data, pos)) is not None:
                pos = match.end()
                if match.group() == b"\\":
                    pos += 1  # the escaped character (a line always ends with its newline)
                elif data[pos:pos + 1] == b"'":
                    pos += 1  # '' inside the string
                else:
                    self.quote = None
                    return pos
            return len(data)
        if quote in (b"'", b'"'):
            found = data.find(quote, pos)
            if found < 0:
                return len(data)
            if data[found + 1:found + 2] == quote:  # '' or "" inside: still quoted
                return found + 2 if found + 2 <= len(data) else len(data)
            self.quote = None
            return found + 1
        found = data.find(quote, pos)  # $tag$
        if found < 0:
            return len(data)
        self.quote = None
        return found + len(quote)
