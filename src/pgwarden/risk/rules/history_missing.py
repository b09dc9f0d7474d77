"""history-missing: the database has no migration history, yet the tables the plan creates exist.

Not a check on one statement: the plan step calls :func:`finding` when, with a database, the
tool's history table (``_prisma_migrations``, ``migrations``, ``alembic_version``,
``pgwarden_migrations``) is missing, so every migration was counted as pending, while tables the
pending ``CREATE TABLE`` statements create already exist. The schema was applied some other way
(``prisma db push``, a restore without the history, a hand-run script) or the URL names another
database: the pending list is wrong, and the deploy fails at the first CREATE TABLE (Prisma
refuses a non-empty schema outright, P3005). :func:`created_tables` lists the targets.
"""

from __future__ import annotations

from collections.abc import Sequence

from pglast import ast

from pgwarden.names import QualifiedName, history_table
from pgwarden.records import Category, Finding, Migration, Severity
from pgwarden.risk.context import TableFacts
from pgwarden.risk.parse import parse_sql
from pgwarden.risk.sqlast import table_of

ID = "history-missing"
CATEGORY = Category.WILL_FAIL
SEVERITY = Severity.HIGH
#: At most this many existing tables are named in the message (all are in the context).
NAMED = 5
_BASELINE = {
    "prisma": "baseline it: `npx prisma migrate resolve --applied <name>` for each migration already in the database",
    "laravel": "record the migrations already run in the `migrations` table (or run `php artisan migrate` against "
               "the database that has them)",
    "alembic": "stamp it: `alembic stamp <revision the schema is at>`",
    "sql": "record the applied files in `pgwarden_migrations` (name and sha256 checksum) before deploying",
}
SUGGESTION = (
    "Check that the database URL names the database these migrations were applied to; if it does and the "
    "schema is already there, record the migrations it already has in the tool's history first (baseline), "
    "then plan again."
)


def created_tables(migrations: Sequence[Migration]) -> list[tuple[Migration, QualifiedName]]:
    """``(migration, table)`` for each plain CREATE TABLE (not IF NOT EXISTS) of ``migrations``."""
    found: list[tuple[Migration, QualifiedName]] = []
    for migration in migrations:
        for parsed in parse_sql(migration.sql or ""):
            node = parsed.node
            if isinstance(node, ast.CreateStmt) and not node.if_not_exists:
                table = table_of(node.relation)
                if table is not None:
                    found.append((migration, table))
    return found


def finding(tool: str, existing: Sequence[tuple[Migration, TableFacts]], pending: int) -> Finding:
    """The finding for a database without ``tool``'s history in which ``existing`` tables that the
    plan's CREATE TABLE statements create are already there (``pending``: migrations counted)."""
    first = existing[0][0]
    named = ", ".join(_table_phrase(facts) for _, facts in existing[:NAMED])
    more = f" and {len(existing) - NAMED} more" if len(existing) > NAMED else ""
    message = (
        f"The database has no {history_table(tool)} table, so all {pending} migration(s) were counted as "
        f"pending, but {len(existing)} table(s) they create already exist ({named}{more}): the migration history "
        f"is missing (or this is another database), the pending list and every finding sized by it are "
        f"unreliable, and the deploy would fail at the first CREATE TABLE ({first.name})"
    )
    baseline = _BASELINE.get(tool)
    suggestion = SUGGESTION if baseline is None else f"{SUGGESTION} With {tool}: {baseline}."
    return Finding(
        rule=ID, category=CATEGORY, severity=SEVERITY, migration=first.name, file=first.path,
        message=message, suggestion=suggestion, table=existing[0][1].table,
        context={"history_table": history_table(tool), "existing_tables": len(existing),
                 "existing_rows": sum(facts.rows or 0 for _, facts in existing)},
    )


def _table_phrase(facts: TableFacts) -> str:
    if facts.empty:
        return f"{facts.table}: empty"
    return f"{facts.table}: about {facts.rows:,} rows" if facts.rows is not None else facts.table
