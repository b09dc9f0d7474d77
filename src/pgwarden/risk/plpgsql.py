"""The literal SQL statements inside ``DO $$ ... $$`` blocks, so the rules review them too.

Generated migrations wrap statements in DO blocks to make them idempotent (drizzle-kit writes
every foreign key as ``DO $$ BEGIN ALTER TABLE ... ADD CONSTRAINT ... EXCEPTION WHEN
duplicate_object THEN null; END $$;``, hand-written ones guard with ``IF NOT EXISTS (...) THEN``).
To PostgreSQL the statements are as real as any other, with the same locks, but to a reviewer of
top-level statements the block is one opaque string.

:func:`expand_do_blocks` puts after each plpgsql DO block the statements its body runs as written
(``PLpgSQL_stmt_execsql``, at any depth of IF/LOOP/BEGIN ... EXCEPTION), parsed with pglast, at
the block's line plus their own. Conditions, PERFORM and dynamic ``EXECUTE '...'`` are left out:
their text is built at run time (a string pgwarden would have to guess) or only reads. A body
pglast cannot parse is skipped: the DO block itself was still reviewed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pglast
from pglast import ast

from pgwarden.risk.parse import ParsedStatement

#: Statements from a DO block start their text with this, so a finding names where it came from.
DO_PREFIX = "-- inside the DO block at line {line}\n"
_DOLLAR = "$pgwarden_do_body$"


def expand_do_blocks(statements: Sequence[ParsedStatement]) -> Sequence[ParsedStatement]:
    """``statements`` in order, each DO block followed by the literal SQL of its body."""
    for parsed in statements:
        if type(parsed.node) is ast.DoStmt:
            break
    else:
        return statements  # nearly every file: no copy
    result: list[ParsedStatement] = []
    for parsed in statements:
        result.append(parsed)
        if isinstance(parsed.node, ast.DoStmt):
            result.extend(do_block_statements(parsed))
    return result


def do_block_statements(parsed: ParsedStatement) -> list[ParsedStatement]:
    """The SQL statements a plpgsql DO block runs as written (none for another language)."""
    body, language = _body_and_language(parsed.node)
    if body is None or language != "plpgsql" or _DOLLAR in body:
        return []
    # libpg_query parses plpgsql only as a function body: give it one.
    wrapper = f"CREATE FUNCTION pgwarden_do() RETURNS void LANGUAGE plpgsql AS {_DOLLAR}{body}{_DOLLAR}"
    try:
        tree = pglast.parse_plpgsql(wrapper)
    except Exception:  # noqa: BLE001 - pglast raises its parser errors and plain ones alike: skip the body
        return []
    # An ignore with a rule and a reason on the block waives its statements' findings too; an
    # incomplete one is reported once, on the block, not again for every statement inside.
    directives = tuple(d for d in parsed.directives if d.rule and d.reason)
    result: list[ParsedStatement] = []
    for lineno, query in _literal_queries(tree):
        try:
            nodes = pglast.parser.parse_sql(query)
        except pglast.parser.ParseError:
            continue
        line = parsed.line + max(lineno - 1, 0)
        for raw in nodes:
            result.append(ParsedStatement(DO_PREFIX.format(line=parsed.line) + query.strip(), line, raw.stmt,
                                          directives=directives))
    return result


def _body_and_language(node: Any) -> tuple[str | None, str]:
    body: str | None = None
    language = "plpgsql"
    for option in node.args or ():
        if not isinstance(option, ast.DefElem) or not isinstance(option.arg, ast.String):
            continue
        if option.defname == "as":
            body = str(option.arg.sval)
        elif option.defname == "language":
            language = str(option.arg.sval).lower()
    return body, language


def _literal_queries(tree: Any) -> Iterator[tuple[int, str]]:
    """(line in the body, query) of every ``PLpgSQL_stmt_execsql``, depth first, in order."""
    if isinstance(tree, list):
        for item in tree:
            yield from _literal_queries(item)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if key == "PLpgSQL_stmt_execsql" and isinstance(value, dict):
                query = value.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query")
                if isinstance(query, str):
                    yield int(value.get("lineno", 1)), query
            else:
                yield from _literal_queries(value)
