"""A failed migration's error as a rehearsal reports it: PostgreSQL's primary message and its SQLSTATE.

The tools say the same thing in different words: the ``sql`` tool has the driver's SQLSTATE;
Laravel prints ``SQLSTATE[23505]: Unique violation: 7 ERROR:  …``; Prisma ``Database error code:
23505`` (or ``ERROR: … (SQLSTATE 23505)`` from its schema engine); Alembic a traceback ending in
``psycopg.errors.UniqueViolation`` (or psycopg2's), whose class carries the SQLSTATE.

The message kept is one line: the primary message, never ``DETAIL``/``HINT``/``CONTEXT``, which
carry production values (``Key (email)=(ann@example.com) already exists``); a ``Key (…)=(…)``
value left in the line is masked. The rehearsal report leaves the process (artifacts, comments).
"""

from __future__ import annotations

import re
from typing import Any

from pgwarden.redact import redact

#: Characters of a message kept.
MESSAGE_LIMIT = 300

_SQLSTATE_PATTERNS = (
    re.compile(r"SQLSTATE\[([0-9A-Z]{5})\]"),
    re.compile(r"\(SQLSTATE ([0-9A-Z]{5})\)"),
    re.compile(r"Database error code: ([0-9A-Z]{5})"),
    re.compile(r"\bSQLSTATE:? ([0-9A-Z]{5})\b"),
    re.compile(r"\bsqlstate[=:] ?'?([0-9A-Z]{5})\b", re.IGNORECASE),
)
#: Prisma's driver adapters (``@prisma/adapter-pg``) name the error's kind, not its SQLSTATE
#: (``Error: external connector error`` then ``Unique constraint failed: orders_code_key``).
_PRISMA_KINDS = (
    (re.compile(r"^Unique constraint failed", re.MULTILINE), "23505"),
    (re.compile(r"^Null constraint (?:violation|failed)", re.MULTILINE), "23502"),
    (re.compile(r"^Foreign key constraint (?:violated|failed)", re.MULTILINE), "23503"),
    (re.compile(r"^Value out of range for the type", re.MULTILINE), "22003"),
    (re.compile(r"^No such table", re.MULTILINE), "42P01"),
    (re.compile(r"unknown variant `InvalidInputValue`"), "22P02"),
)
#: How Prisma's output says the error came from the driver adapter (only then are the kinds read).
_PRISMA_ADAPTER = ("external connector error", "Error in the underlying connector")
_PRISMA_MESSAGE = re.compile(r"external connector error\s*\n\s*(\S.*)")
_ERROR_CLASS = re.compile(r"\bpsycopg2?\.errors\.([A-Z][A-Za-z]+)")
_ERROR_LINE = re.compile(r"\bERROR:\s+(.+)")
#: The last line of a Python traceback through SQLAlchemy or psycopg (Alembic):
#: ``sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) could not create …``.
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+Error: )?(?:\(psycopg2?\.errors\.\w+\) |psycopg2?\.errors\.\w+: )(.+)$",
                             re.MULTILINE)
_LARAVEL_PREFIX = re.compile(r"^SQLSTATE\[[0-9A-Z]{5}\]:[^:]*:\s*(?:\d+\s+)?(?:ERROR:\s+)?")
_KEY_START = re.compile(r"Key \([^)]*\)=\(")
#: What PostgreSQL says after the values of a key (a value may itself hold any of ``) ,.``).
_KEY_ENDINGS = (") already exists", ") is duplicated", ") is not present in table", ") is still referenced",
                ") conflicts with")
_FOLLOWING = re.compile(r"\s+(DETAIL|HINT|CONTEXT|LINE \d+|QUERY|WHERE):.*$")
#: Laravel appends the statement, values and all: `` (Connection: pgsql, SQL: insert …)``.
_LARAVEL_SQL = re.compile(r"\s*\((?:Connection: [^,]*, )?SQL: .*$")
_QUOTED_VALUE = re.compile(r'(: )"(?:[^"]|"")*"')
_DETAIL_PART = re.compile(r"(^|\s)(DETAIL|CONTEXT|HINT):.*$")
#: A line that starts a new part of a message: the lines between a DETAIL and it belong to the DETAIL.
_NEXT_PART = re.compile(r"^\s*(?:[A-Z]+:|SQLSTATE\[|at |#\d|\d+: |Error|Exception|In [A-Z]|\[|rehearse:|migration )")
#: The data exceptions that quote the value in their primary message.
_DATA_VALUE = re.compile(r'(invalid input (?:syntax|value) for (?:type|enum) [^:"]+: )"(?:[^"]|"")*"')
_SQLSTATE_SUFFIX = re.compile(r"\s*\(SQLSTATE [0-9A-Z]{5}\)\s*$")


def mask_details(text: str) -> str:
    """``text`` without what may quote production rows: every ``DETAIL:``/``CONTEXT:``/``HINT:``'s
    content, Laravel's ``(Connection: …, SQL: …)``, ``Key (…)=(…)`` values and the value a data
    exception quotes. For the progress and audit lines of a rehearsal, which end up in CI logs."""
    masked: list[str] = []
    in_detail = False
    for line in text.splitlines():
        if in_detail and line.strip() and not _NEXT_PART.match(line):
            continue  # a DETAIL the tool's output wrapped at the terminal's width (Laravel) goes on here
        in_detail = False
        cut = _DETAIL_PART.sub(r"\1\2: (left out: it may quote production data)", line)
        in_detail = cut != line
        line = _DATA_VALUE.sub(r'\1"…"', _LARAVEL_SQL.sub(" (SQL left out)", cut))
        masked.append(_mask_keys(line))
    return "\n".join(masked) + ("\n" if text.endswith("\n") else "")


def mask_data(value: Any) -> Any:
    """:func:`mask_details` on every string in a JSON-like value (an audit line's fields)."""
    if isinstance(value, str):
        return mask_details(value)
    if isinstance(value, dict):
        return {k: mask_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    return value


def _mask_keys(line: str) -> str:
    """``Key (email)=(ann@example.com) already exists`` -> ``Key (email)=(…) already exists``; with no
    known ending, everything after ``=(`` goes."""
    found = _KEY_START.search(line)
    if found is None:
        return line
    rest = line[found.end():]
    ends = [i for i in (rest.rfind(e) for e in _KEY_ENDINGS) if i >= 0]
    return line[:found.end()] + "…" + (rest[max(ends):] if ends else ")")


def sqlstate_of(*texts: str | None) -> str | None:
    """The first SQLSTATE any of ``texts`` names, in any of the tools' forms; None when none does."""
    for text in texts:
        if not text:
            continue
        for pattern in _SQLSTATE_PATTERNS:
            match = pattern.search(text)
            if match:
                return match.group(1)
        for name in _ERROR_CLASS.findall(text):
            state = _class_sqlstate(name)
            if state:
                return state
        for kind, state in _PRISMA_KINDS:
            if any(mark in text for mark in _PRISMA_ADAPTER) and kind.search(text):
                return state
    return None


def _class_sqlstate(name: str) -> str | None:
    """The SQLSTATE of psycopg's exception class ``name`` (psycopg2's classes have the same names)."""
    import psycopg.errors

    found = getattr(psycopg.errors, name, None)
    state = getattr(found, "sqlstate", None)
    return state if isinstance(state, str) else None


def primary_message(error: str | None, output: str = "", sqlstate: str | None = None) -> str | None:
    """One line saying why the migration failed: the ``ERROR:`` line of the tool's output when it
    prints one (external tools), else the first line of ``error``; values masked, redacted.

    A data exception (SQLSTATE class 22) quotes the offending value in the primary message itself
    (``invalid input syntax for type integer: "12a"``): that value is masked too."""
    found = (_ERROR_LINE.findall(output) or _EXCEPTION_LINE.findall(output)
             or _PRISMA_MESSAGE.findall(output)) if output else []
    line = found[-1] if found else next((ln for ln in (error or "").splitlines() if ln.strip()), None)
    if line is None:
        return None
    line = _LARAVEL_PREFIX.sub("", line.strip())
    line = line.removeprefix("ERROR:").strip()
    line = _FOLLOWING.sub("", line)
    line = _SQLSTATE_SUFFIX.sub("", _LARAVEL_SQL.sub("", line))
    line = _mask_keys(line)
    if sqlstate is not None and sqlstate.startswith("22"):
        line = _QUOTED_VALUE.sub(r'\1"…"', line)
    line = redact(" ".join(line.split()))
    return line if len(line) <= MESSAGE_LIMIT else line[:MESSAGE_LIMIT - 1] + "…"
