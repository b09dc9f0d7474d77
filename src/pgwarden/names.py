"""Names every layer agrees on: qualified table names, pgwarden's own tables, its application name.

These used to be written out in several modules and had drifted (a lock on ``audit.users``
counted for ``public.users``; a schema with a dot in its name split in the wrong place). Keep
each one here, once.

A :class:`QualifiedName` is ``schema.table``. Its text form (manifests, reports, ``--tables``)
is ``schema.table`` with each part double-quoted only when it has to be (it contains a dot or a
double quote), so every name written before this form existed reads back the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

#: ``application_name`` of the sessions that run migrations: the lock watchdog and the
#: audit find the migration tool's backends by it (``pgwarden-migrate-<run>`` for a named run).
MIGRATE_APPLICATION_NAME = "pgwarden-migrate"
#: ``application_name`` of the plan command's read-only sessions (Laravel's ``--pretend``): not a
#: migration, so a deploy does not wait for it and the watchdog does not watch it.
PLAN_APPLICATION_NAME = "pgwarden-plan"

#: pgwarden's own table in the target database: one row per deploy (see :mod:`pgwarden.audit`).
AUDIT_TABLE = "pgwarden_history"

#: pgwarden's record of migrations it started and did not see finish (one row per migration,
#: written before the tool runs, so even a SIGKILLed pgwarden leaves one; see
#: :mod:`pgwarden.pg.unfinished`). ``deploy`` refuses while one is ``unknown``; ``pgwarden resolve``
#: clears it.
UNFINISHED_TABLE = "pgwarden_unfinished"

#: Where each migration tool records what it applied, by tool name.
TOOL_HISTORY_TABLES = {
    "sql": "pgwarden_migrations",
    "prisma": "_prisma_migrations",
    "laravel": "migrations",
    "alembic": "alembic_version",
}

#: Bookkeeping tables: not the application's data (verify and restore treat them apart).
BOOKKEEPING_TABLES = frozenset({AUDIT_TABLE, UNFINISHED_TABLE, *TOOL_HISTORY_TABLES.values()})


def history_table(tool: str) -> str:
    """The history table of ``tool``, or a phrase that reads well in a message when unknown."""
    return TOOL_HISTORY_TABLES.get(tool, "the history table")


def _quote_part(part: str) -> str:
    if "." in part or '"' in part:
        return '"' + part.replace('"', '""') + '"'
    return part


def _take_part(text: str) -> tuple[str, str | None]:
    """(first identifier, the text after its dot or None at the end)."""
    if text.startswith('"'):
        out, i = [], 1
        while i < len(text):
            if text[i] == '"':
                if text[i + 1:i + 2] == '"':
                    out.append('"')
                    i += 2
                    continue
                after = text[i + 1:]
                if after == "":
                    return "".join(out), None
                if after.startswith("."):
                    return "".join(out), after[1:]
                break
            out.append(text[i])
            i += 1
        # Not a well-formed quoted part: read it literally, as pgwarden always did.
    head, dot, tail = text.partition(".")
    return head, (tail if dot else None)


@dataclass(frozen=True, order=True)
class QualifiedName:
    """A table (or any relation) in a schema. ``schema`` is None when the SQL did not say."""

    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str, *, default_schema: str | None = "public") -> QualifiedName:
        """Read :attr:`text` back. ``"a.b".t`` is table ``t`` in schema ``a.b``; ``a.b.c`` (old,
        unquoted) is table ``b.c`` in schema ``a``, as pgwarden always read it."""
        first, rest = _take_part(text)
        if rest is None:
            return cls(default_schema, first)
        second, tail = _take_part(rest) if rest.startswith('"') else (rest, None)
        if tail is not None:  # "x".y.z: not a form pgwarden writes; keep everything after the schema
            second = rest
        return cls(first, second)

    @property
    def schema_or_public(self) -> str:
        return self.schema if self.schema is not None else "public"

    @cached_property  # the risk review asks each table's key over and over
    def key(self) -> str:
        """What two names are compared by: unqualified and ``public.`` are the same table."""
        if self.schema in (None, "public"):
            return _quote_part(self.name)
        return self.text

    @property
    def text(self) -> str:
        """``schema.table`` (the manifest form), quoting a part only when it has to be."""
        return f"{_quote_part(self.schema_or_public)}.{_quote_part(self.name)}"

    @property
    def display(self) -> str:
        """As written: unqualified stays unqualified."""
        if self.schema is None:
            return self.name
        return f"{self.schema}.{self.name}"

    @property
    def regclass_text(self) -> str:
        """Text for ``to_regclass``: fully quoted, so mixed case and odd names resolve exactly."""
        quoted = '"' + self.name.replace('"', '""') + '"'
        if self.schema is None:
            return quoted
        return '"' + self.schema.replace('"', '""') + '".' + quoted

    def same_table(self, schema: str, name: str) -> bool:
        """True when this name (unqualified meaning ``public``) is ``schema.name``."""
        return self.schema_or_public == schema and self.name == name
