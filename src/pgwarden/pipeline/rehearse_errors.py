"""The SQLSTATE of a failed migration, from what the tool printed.

The tools say it in different words: the ``sql`` tool has the driver's SQLSTATE; Laravel prints
``SQLSTATE[23505]: …``; Prisma ``Database error code: 23505``, ``(SQLSTATE 23505)``, or through its
driver adapter only the error's kind (``Unique constraint failed``); Alembic a traceback ending in
``psycopg.errors.UniqueViolation`` (or psycopg2's), whose class carries the SQLSTATE. The message
itself, without production values, is :func:`pgwarden.pg_messages.primary_message`.
"""

from __future__ import annotations

import re

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
_ERROR_CLASS = re.compile(r"\bpsycopg2?\.errors\.([A-Z][A-Za-z]+)")


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
