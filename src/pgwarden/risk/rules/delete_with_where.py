"""delete-with-where: DELETE ... WHERE removes rows of an existing table inside the migration.

Only the rows the WHERE names, but they are gone for good once the migration commits, and the
schema migration is where nobody expects data to change: a reviewer reads DDL. With live context
the finding says how big the table is; an empty table, a tiny one, and a table the migration
created or proved empty lose nothing worth a finding above low. A DELETE without WHERE is
``delete-without-where``.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.names import BOOKKEEPING_TABLES
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, is_tiny, size_phrase
from pgwarden.risk.sqlast import table_of

ID = "delete-with-where"
CATEGORY = Category.DATA_LOSS
NODES = (ast.DeleteStmt,)
SUGGESTION = (
    "Make sure the deleted rows are not needed or are in the backup (copy them to an archive table "
    "first), and delete large sets in batches from a job you can stop "
    "(DELETE ... WHERE id IN (SELECT id ... LIMIT 10000)) rather than in the schema migration."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.whereClause is None and not node.usingClause:
        return
    table = table_of(node.relation)
    if table is None or ctx.is_new(table) or table.name in BOOKKEEPING_TABLES:
        return  # new, or the tools' own history (alembic_version's UPDATE ... WHERE): no app data
    facts = ctx.size_facts(table, stmt)
    if facts is not None and (facts.empty or facts.empty_because is not None):
        return
    message = f"Deletes the rows of {table.display} that its WHERE clause matches, for good once this commits"
    if facts is None:
        yield Hit(Severity.MEDIUM, message, SUGGESTION, table)
        return
    severity = Severity.LOW if is_tiny(facts) else Severity.MEDIUM
    yield Hit(severity, f"{message} ({size_phrase(facts)})", SUGGESTION, table, facts.context)
