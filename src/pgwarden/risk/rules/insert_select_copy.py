"""insert-select-copy: INSERT ... SELECT copies rows of existing tables inside the migration.

A copy of a big table in the schema migration reads all of it and writes every row again (plus
its indexes and WAL) inside the migration's transaction: minutes during which every lock the
migration took stays held, and a copy that drifts from the source as soon as the application
writes to it. A copy from tables this migration created (or proved empty), and a seed
``INSERT ... SELECT`` of constants, copy nothing. With live context the finding names the size of
the source tables: tiny sources are low, a big one is high.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import BIG_BYTES, BIG_ROWS, Hit, RuleContext, Statement, is_tiny, size_phrase
from pgwarden.risk.sqlast import nodes_of, table_of

ID = "insert-select-copy"
CATEGORY = Category.BLOCKING_LOCK
NODES = (ast.InsertStmt,)
SUGGESTION = (
    "Copy big tables outside the schema migration, in batches that each commit "
    "(INSERT ... SELECT ... WHERE id BETWEEN x AND y) from a job, with a trigger or dual writes "
    "keeping the copy current; keep only small lookup copies in the migration."
)


def source_tables(select: object, ctes: set[str]) -> list[QualifiedName]:
    """Tables the SELECT reads rows from (FROM clauses at any depth), leaving out the names of ``ctes``."""
    ctes = ctes | {str(cte.ctename) for cte in nodes_of(select, ast.CommonTableExpr)}
    found: dict[str, QualifiedName] = {}
    for range_var in nodes_of(select, ast.RangeVar):
        table = table_of(range_var)
        if table is not None and not (table.schema is None and table.name in ctes):
            found.setdefault(table.key, table)
    return list(found.values())


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    select = node.selectStmt
    if not isinstance(select, ast.SelectStmt) or (select.valuesLists and not select.fromClause):
        return
    if not select.fromClause and not select.larg:
        return  # INSERT ... SELECT <constants> [WHERE NOT EXISTS (...)]: a seed row
    target = table_of(node.relation)
    sources = []
    ctes = {str(cte.ctename) for cte in nodes_of(node.withClause, ast.CommonTableExpr)}
    for table in source_tables(select, ctes):
        if ctx.is_new(table) or (target is not None and table.key == target.key and ctx.is_new(target)):
            continue
        facts = ctx.size_facts(table, stmt)
        if facts is not None and (facts.empty or facts.empty_because is not None):
            continue
        sources.append((table, facts))
    if not sources:
        return
    names = ", ".join(table.display for table, _ in sources)
    into = target.display if target is not None else "the target"
    message = f"Copies the rows of {names} into {into} inside the migration's transaction"
    known = [facts for _, facts in sources if facts is not None]
    severity = Severity.MEDIUM
    if known and len(known) == len(sources) and all(is_tiny(facts) for facts in known):
        severity = Severity.LOW
    elif any((facts.rows or 0) >= BIG_ROWS or facts.bytes >= BIG_BYTES for facts in known):
        severity = Severity.HIGH
    context = {}
    if known:
        message += " (" + "; ".join(size_phrase(facts) for facts in known) + ")"
        context = {"sources": {facts.table: facts.context for facts in known}}
    yield Hit(severity, message, SUGGESTION, target, context)
