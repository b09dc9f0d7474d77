"""PostgreSQL's messages as pgwarden shows them: the primary message, without production values.

A failed migration on a copy of production (``pgwarden rehearse``) reports its error in the tools'
words: Laravel prints ``SQLSTATE[23505]: Unique violation: 7 ERROR:  …``; Prisma ``ERROR: …
(SQLSTATE 23505)`` or, through its driver adapter, ``external connector error`` and a kind;
Alembic a traceback ending in ``psycopg.errors.UniqueViolation``. What is kept is one line: the
primary message, never ``DETAIL``/``HINT``/``CONTEXT``, which carry production values
(``Key (email)=(ann@example.com) already exists``); a key's values and a data exception's quoted
value left in the line are masked. The same rules serve the rehearsal's report and audit lines
(:mod:`pgwarden.pipeline.rehearse`) and the review's findings read from a ``rehearse.json``
(:mod:`pgwarden.risk.rules.rehearsal_failed`), which leave the process (artifacts, comments, CI logs).
"""

from __future__ import annotations

import re
from typing import Any

from pgwarden.redact import redact

#: Characters of a message kept.
MESSAGE_LIMIT = 300

_PRISMA_MESSAGE = re.compile(r"external connector error\s*\n\s*(\S.*)")
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
_FOLLOWING = re.compile(r"\s+(DETAIL|HINT|CONTEXT|LINE \d+|QUERY|WHERE|STATEMENT):.*$")
#: Laravel appends the statement, values and all: `` (Connection: pgsql, SQL: insert …)``.
_LARAVEL_SQL = re.compile(r"\s*\((?:Connection: [^,]*, )?SQL: .*$")
_DETAIL_PART = re.compile(r"(^|\s)(DETAIL|CONTEXT|HINT):.*$")
#: A line that starts a new part of a message: the lines between a DETAIL and it belong to the DETAIL.
_NEXT_PART = re.compile(r"^\s*(?:[A-Z]+:|SQLSTATE\[|at |#\d|\d+: |Error|Exception|In [A-Z]|\[|rehearse:|migration )")
#: The data exceptions that quote the value in their primary message.
_DATA_VALUE = re.compile(r'(invalid input (?:syntax|value) for (?:type|enum) [^:"]+: )"(?:[^"]|"")*"')
_SQLSTATE_SUFFIX = re.compile(r"\s*\(SQLSTATE [0-9A-Z]{5}\)\s*$")
#: Anything quoted in a data exception's message (SQLSTATE class 22) may be a value.
_QUOTED = re.compile(r'"[^"]*"')
#: ``)=(…)`` after any column list, ``Key (`` or not.
_KEY_VALUES = re.compile(r"\)=\((?:[^()]|\([^()]*\))*\)")
#: A line of the error that is a part after the primary message.
_DETAIL_LINE = re.compile(r"\s*(DETAIL|HINT|CONTEXT):")
#: What a tool's line may start with before the message.
_ERROR_PREFIX = re.compile(r"^(ERROR|FATAL|error|Database error):\s*")


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


def primary_message(error: str | None, output: str = "", sqlstate: str | None = None) -> str | None:
    """One line saying why the migration failed: the ``ERROR:`` line of the tool's output when it
    prints one (external tools), else the first line of ``error`` that is not a DETAIL, HINT or
    CONTEXT; a key's values masked, redacted, at most :data:`MESSAGE_LIMIT` characters.

    A data exception (SQLSTATE class 22) quotes the offending value in the primary message itself
    (``invalid input syntax for type integer: "12a"``): what it quotes is masked too."""
    found = (_ERROR_LINE.findall(output) or _EXCEPTION_LINE.findall(output)
             or _PRISMA_MESSAGE.findall(output)) if output else []
    line = found[-1] if found else next((ln for ln in (error or "").splitlines()
                                         if ln.strip() and not _DETAIL_LINE.match(ln)), None)
    if line is None:
        return None
    line = _LARAVEL_PREFIX.sub("", line.strip())
    line = _ERROR_PREFIX.sub("", line).strip()
    line = _FOLLOWING.sub("", line)
    line = _SQLSTATE_SUFFIX.sub("", _LARAVEL_SQL.sub("", line))
    line = _KEY_VALUES.sub(")=(…)", _mask_keys(line))
    if sqlstate is not None and sqlstate.startswith("22"):
        line = _QUOTED.sub('"…"', line)
    line = redact(" ".join(line.split()))
    return line if len(line) <= MESSAGE_LIMIT else line[:MESSAGE_LIMIT - 1] + "…"
