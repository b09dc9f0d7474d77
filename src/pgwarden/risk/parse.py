"""Split a migration's SQL into statements with the real PostgreSQL parser (pglast/libpg_query).

Each statement keeps its text, the 1-based line where it starts, and the
``-- pgwarden:ignore <rule> <reason>`` directives written on it or in the comment block
directly above it. A file that does not parse is split by the SQL scanner (which still knows
quoting and dollar-quoting) and each piece is parsed alone, so one bad statement becomes one
``syntax-error`` and the rest of the file is still reviewed.

Parsing is most of a static review's time; :mod:`pgwarden.risk.trusted` keeps pglast from
re-checking, in Python, every attribute its own C parser has just built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pglast import parser

from pgwarden.risk.trusted import trusted_nodes

#: Compiled where a file has a directive (re caches it): most plans have none, and it was 2 ms of start-up.
_DIRECTIVE = r"pgwarden:ignore(?:[ \t]+([A-Za-z0-9_-]+))?[ \t]*(.*)"
#: Statement text in findings is trimmed to this many characters.
STATEMENT_DISPLAY_CHARS = 300


@dataclass(frozen=True)
class Directive:
    rule: str
    reason: str
    line: int


@dataclass(slots=True)
class ParsedStatement:
    text: str
    line: int
    node: Any = None
    #: The parser's message when this statement does not parse.
    error: str | None = None
    #: A tuple, not a list: nearly every statement has none, and a shared empty tuple costs nothing.
    directives: tuple[Directive, ...] = ()


class _Lines:
    """Offset -> line number. Statements are asked for in order, so each lookup counts the newlines
    from the previous one (in C); the lines themselves are split only for directives."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._offset = 0
        self._line = 1
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.sql.split("\n")
        return self._lines

    def line_of(self, offset: int) -> int:
        if offset < 0:
            offset = 0
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += self.sql.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def display_statement(text: str) -> str:
    text = text.strip()
    if len(text) <= STATEMENT_DISPLAY_CHARS:
        return text
    return text[: STATEMENT_DISPLAY_CHARS - 3].rstrip() + "..."


def parse_sql(sql: str) -> list[ParsedStatement]:
    """Every statement of a migration file, in order; unparseable ones carry ``error``."""
    lines = _Lines(sql)
    with trusted_nodes():
        try:
            statements = _statements(sql, 0, lines)
        except parser.ParseError:
            statements = _statements_one_by_one(sql, lines)
    if "pgwarden:ignore" in sql:
        _attach_directives(statements, lines)
    return statements


def _statements(sql: str, base: int, lines: _Lines) -> list[ParsedStatement]:
    result = []
    line_of = lines.line_of
    for raw in parser.parse_sql(sql):
        start = raw.stmt_location or 0
        length = raw.stmt_len
        text = (sql[start:start + length] if length else sql[start:]).strip()
        result.append(ParsedStatement(text, line_of(base + start), raw.stmt))
    return result


def _statements_one_by_one(sql: str, lines: _Lines) -> list[ParsedStatement]:
    try:
        tokens = parser.scan(sql)
    except parser.ParseError as exc:
        message, location = _error_parts(exc)
        return [ParsedStatement(sql.strip(), lines.line_of(location), error=message)]
    result: list[ParsedStatement] = []
    chunk_start = 0
    bounds = [t.start for t in tokens if t.name == "ASCII_59"] + [len(sql)]
    for semicolon in bounds:
        chunk = sql[chunk_start:semicolon]
        if chunk.strip() and _has_tokens(tokens, chunk_start, semicolon):
            try:
                for stmt in _statements(chunk, chunk_start, lines):
                    result.append(stmt)
            except parser.ParseError as exc:
                message, location = _error_parts(exc)
                first = _first_token_offset(tokens, chunk_start, semicolon)
                result.append(
                    ParsedStatement(sql[first:semicolon].strip(), lines.line_of(first), error=message)
                )
                # Point at the error itself: that is the line a reader has to fix.
                result[-1].line = lines.line_of(chunk_start + location) if location else result[-1].line
        chunk_start = semicolon + 1
    return result


def _has_tokens(tokens: Any, start: int, end: int) -> bool:
    return any(start <= t.start < end and not t.name.endswith("COMMENT") for t in tokens)


def _first_token_offset(tokens: Any, start: int, end: int) -> int:
    for t in tokens:
        if start <= t.start < end and not t.name.endswith("COMMENT"):
            return int(t.start)
    return start


def _error_parts(exc: parser.ParseError) -> tuple[str, int]:
    args = exc.args
    message = str(args[0]) if args else str(exc)
    location = int(args[1]) if len(args) > 1 and isinstance(args[1], int) else 0
    return message, location


def _attach_directives(statements: list[ParsedStatement], lines: _Lines) -> None:
    """Directives on a statement's own lines, or in the comment lines directly above it."""
    for index, stmt in enumerate(statements):
        last_line = stmt.line + stmt.text.count("\n")
        candidates = list(range(stmt.line, last_line + 1))
        above = stmt.line - 1
        while above >= 1 and lines.lines[above - 1].lstrip().startswith("--"):
            candidates.append(above)
            above -= 1
        next_start = statements[index + 1].line if index + 1 < len(statements) else None
        for number in candidates:
            text = lines.lines[number - 1]
            position = text.find("pgwarden:ignore")
            if position < 0 or "--" not in text[:position]:
                continue
            if number > stmt.line and next_start is not None and number >= next_start:
                continue
            match = re.compile(_DIRECTIVE).match(text, position)
            if match is not None:
                rule = match.group(1) or ""
                reason = match.group(2).strip().removesuffix("*/").strip()
                stmt.directives += (Directive(rule, reason, number),)
