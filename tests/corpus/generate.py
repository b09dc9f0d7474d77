"""Render :data:`tests.corpus.patterns.PATTERNS` as the files each tool gives pgwarden to review.

- Prisma: ``prisma/migrations/<timestamp>_<name>/migration.sql`` with Prisma's ``-- AlterTable``
  style comments before each statement;
- Laravel: ``php artisan migrate --pretend`` output (the ``⇂`` query lines), read back through
  :func:`pgwarden.tools.laravel_pretend.parse_pretend_output` as pgwarden reads it;
- Alembic: ``alembic upgrade --sql`` output (BEGIN, ``-- Running upgrade``, the ``alembic_version``
  bookkeeping, COMMIT), split by :func:`pgwarden.tools.alembic.split_offline_sql`;
- plain SQL: one ``NNNN_name.sql`` file.

Each rendered case is one migration planned alone, as the issue's measurement did.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pgwarden.records import Migration
from pgwarden.tools.alembic import split_offline_sql
from pgwarden.tools.laravel_pretend import parse_pretend_output
from tests.corpus.patterns import PATTERNS, Pattern

#: (table, the other table it references): the apps' existing tables.
TABLE_PAIRS = (("orders", "users"), ("Post", "User"), ("invoices", "customers"))

_PRISMA_HEADERS = (("CREATE TABLE", "CreateTable"), ("CREATE UNIQUE INDEX", "CreateIndex"),
                   ("CREATE INDEX", "CreateIndex"), ("DROP INDEX", "DropIndex"), ("DROP TABLE", "DropTable"),
                   ("ALTER TABLE", "AlterTable"), ("CREATE TYPE", "CreateEnum"), ("ALTER TYPE", "AlterEnum"),
                   ("DROP TYPE", "DropEnum"))


@dataclass(frozen=True)
class Case:
    pattern: Pattern
    tool: str
    migration: Migration


def _statements(pattern: Pattern, table: str, other: str, n: int) -> list[str]:
    column = f"{pattern.name.split('-')[0].replace('fa', 'f').replace('m', 'x')}_{n}"
    return [s.format(t=table, u=other, c=column, n=n) for s in pattern.statements]


def _prisma(name: str, statements: list[str], n: int) -> Migration:
    parts = []
    for statement in statements:
        header = next((h for prefix, h in _PRISMA_HEADERS if statement.upper().startswith(prefix)), None)
        parts.append((f"-- {header}\n" if header else "") + statement + ";")
    folder = f"2024{n:010d}_{name.replace('-', '_')}"
    return Migration(name=folder, path=f"prisma/migrations/{folder}/migration.sql", sql="\n\n".join(parts) + "\n")


def _laravel(name: str, statements: list[str], n: int) -> Migration:
    migration = f"2024_05_{n % 28 + 1:02d}_{n:06d}_{name.replace('-', '_')}"
    lines = [f"  {migration} " + "." * 20 + " ", *(f"  ⇂ {_laravel_case(s)}  " for s in statements), ""]
    (pretended,) = parse_pretend_output("\n".join(lines))
    return Migration(name=migration, path=f"database/migrations/{migration}.php", sql=pretended.sql)


def _laravel_case(statement: str) -> str:
    """Laravel's grammar writes lower-case keywords."""
    return re.sub(r"\b(ALTER TABLE|ADD COLUMN|CREATE INDEX|CREATE UNIQUE INDEX|DROP COLUMN|DROP TABLE|"
                  r"ADD CONSTRAINT|FOREIGN KEY|REFERENCES|NOT NULL|DEFAULT|RENAME COLUMN|RENAME TO)\b",
                  lambda m: m.group(0).lower(), statement)


def _alembic(name: str, statements: list[str], n: int) -> Migration:
    down, up = f"{n:012x}", f"{n + 1:012x}"
    body = "\n\n".join(s + ";" for s in statements)
    text = (f"BEGIN;\n\n-- Running upgrade {down} -> {up}\n\n{body}\n\n"
            f"UPDATE alembic_version SET version_num='{up}' WHERE alembic_version.version_num = '{down}';\n\n"
            "COMMIT;\n\n")
    sql = split_offline_sql(text)[up]
    return Migration(name=f"{up}_{name.replace('-', '_')}", path=f"migrations/versions/{up}_{name}.py", sql=sql)


def _sql(name: str, statements: list[str], n: int) -> Migration:
    return Migration(name=f"{n:04d}_{name}", path=f"migrations/{n:04d}_{name}.sql",
                     sql="\n".join(s + ";" for s in statements) + "\n")


RENDER = {"prisma": _prisma, "laravel": _laravel, "alembic": _alembic, "sql": _sql}


def cases() -> Iterator[Case]:
    n = 0
    for pattern in PATTERNS:
        for table, other in TABLE_PAIRS:
            for tool in pattern.tools:
                n += 1
                statements = _statements(pattern, table, other, n)
                yield Case(pattern, tool, RENDER[tool](pattern.name, statements, n))
