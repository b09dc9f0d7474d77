"""Reading ``php artisan migrate --pretend`` output: which migration runs which queries.

Two formats exist:

- Laravel 9 to 11: a name line padded with dots, then one ``⇂ query`` line per query (a query's
  further lines indented under it).
- Laravel 8 and older: one ``Name: query`` line per query, where ``Name`` is the migration's class
  (``AddTotalToOrdersTable``) or, for an anonymous class (``return new class extends Migration``),
  the file's name (``2024_02_01_000002_add_email_index``). A query with line breaks
  (``DB::statement`` of a multi-line string) goes on over the next lines as written, unindented
  or not.

``names`` maps every name Laravel may print (class names, file names) to the migration's file
name, so that a class name becomes its migration, and a line is a new query only when it starts
with one of those names: anything else continues the query before it. ``Name: failed to dump
queries...`` (Laravel 8 on a Doctrine column change) marks the migration's SQL as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "  2024_01_15_093000_create_orders_table ........  " (optionally "... 12ms DONE" / "Pending").
_HEADER = re.compile(r"^\s{0,4}(?P<name>[A-Za-z0-9_\\.\-]+)\s+\.{3,}(?:\s+.*)?$")
# "  ⇂ alter table ..."  (some terminals print the bullet as "=>" or "-").
_QUERY = re.compile(r"^\s*(?:⇂|=>)\s?(?P<sql>.*)$")
# Laravel <= 8: "CreateUsersTable: create table ..." or "2024_02_01_000002_add_index: create index ..."
_LEGACY = re.compile(r"^\s*(?P<name>[A-Za-z0-9_\\]+):\s+(?P<sql>\S.*)$")
_DUMP_FAILED = re.compile(r"^failed to dump queries\b", re.I)
_MIGRATION_FILE_NAME = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{6}_\w+$")
_NOISE = re.compile(
    r"^\s*(INFO|WARN|ERROR)\s{1,}|^\s*Nothing to migrate|^\s*Migration table created successfully\.?\s*$", re.I
)


@dataclass
class PretendedMigration:
    """One migration of the ``--pretend`` output and the queries it would run, in order."""

    name: str
    queries: list[str] = field(default_factory=list)
    #: Laravel could not render its queries ("failed to dump queries": a Doctrine column change).
    unavailable: bool = False

    @property
    def sql(self) -> str:
        return "".join(_terminated(query) + "\n" for query in self.queries)


def parse_pretend_output(text: str, names: Mapping[str, str] | None = None) -> list[PretendedMigration]:
    """Migrations and their queries from ``php artisan migrate --pretend`` output.

    ``names``: every name Laravel may print for a migration (its class, its file name), mapped
    to the file name. Without it, any ``Word: query`` line of the old format starts a query.
    """
    known = dict(names or {})
    by_name: dict[str, PretendedMigration] = {}
    result: list[PretendedMigration] = []
    current: PretendedMigration | None = None

    def start(name: str) -> PretendedMigration:
        migration = by_name.get(name)
        if migration is None:
            migration = by_name[name] = PretendedMigration(name=name)
            result.append(migration)
        return migration

    for raw in _ANSI.sub("", text).splitlines():
        line = raw.rstrip()
        if not line.strip() or (_NOISE.match(line) and not (current and current.queries)):
            continue
        query = _QUERY.match(line)
        if query and current is not None:
            current.queries.append(query.group("sql").strip())
            continue
        header = _HEADER.match(line)
        if header and not _LEGACY.match(line):
            current = start(_resolve(header.group("name"), known))
            continue
        legacy = _LEGACY.match(line)
        if legacy and _starts_query(legacy.group("name"), known, current):
            current = start(_resolve(legacy.group("name"), known))
            if _DUMP_FAILED.match(legacy.group("sql")):
                current.unavailable = True
            else:
                current.queries.append(legacy.group("sql").strip())
            continue
        if current is not None and current.queries:
            # A query with line breaks continues on the next lines, indented or not.
            current.queries[-1] += "\n" + line.strip()
    return result


def _resolve(name: str, known: Mapping[str, str]) -> str:
    if name in known:
        return known[name]
    short = name.rsplit("\\", 1)[-1]  # a namespaced class: Database\Migrations\AddTotal
    return known.get(short, name)


def _starts_query(name: str, known: Mapping[str, str], current: PretendedMigration | None) -> bool:
    """Whether ``Name: ...`` starts a query: a known name always; an unknown one only when it cannot
    be a continuation (nothing before it) or has the shape of a migration's file name."""
    if not known or name in known or name.rsplit("\\", 1)[-1] in known:
        return True
    return current is None or not current.queries or bool(_MIGRATION_FILE_NAME.match(name))


def _terminated(query: str) -> str:
    query = query.strip()
    return query if query.endswith(";") else query + ";"
