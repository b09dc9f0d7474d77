"""vacuum-full: VACUUM FULL rewrites each table under ACCESS EXCLUSIVE (no reads, no writes)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.sqlast import has_option, table_of

ID = "vacuum-full"
CATEGORY = Category.TABLE_REWRITE
NODES = (ast.VacuumStmt,)
SUGGESTION = (
    "Use plain VACUUM (no lock against reads/writes), or pg_repack / pg_squeeze to reclaim space "
    "online; keep maintenance out of schema migrations."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    if not has_option(stmt.node.options, "full"):
        return
    relations = [r.relation for r in stmt.node.rels or ()]
    if not relations:
        yield Hit(Severity.CRITICAL, "VACUUM FULL without a table rewrites every table in the database, each "
                  "under an ACCESS EXCLUSIVE lock", SUGGESTION)
        return
    for relation in relations:
        table = table_of(relation)
        if table is None or ctx.is_new(table):
            continue
        yield size_hit(Severity.HIGH, ctx.size_facts(table, stmt), table,
                       f"VACUUM FULL rewrites {table.display} under an ACCESS EXCLUSIVE lock", SUGGESTION,
                       work="reads and writes are blocked")
