"""unique-on-duplicate-values: a unique index, UNIQUE or PRIMARY KEY constraint on an existing table
fails while two rows share a key value.

Only the data can tell, so with live context the duplicates are counted (read-only, under
``risk.statement_timeout``, stopping at a cap); a static plan says once per statement that it
cannot be known. A failed ``CREATE UNIQUE INDEX CONCURRENTLY`` also leaves an INVALID index behind.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "unique-on-duplicate-values"
CATEGORY = Category.WILL_FAIL
NODES = (ast.IndexStmt, ast.AlterTableStmt)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AddConstraint})
SUGGESTION = (
    "Find and resolve the duplicates first (SELECT key, count(*) FROM t GROUP BY key HAVING count(*) > 1), "
    "in an earlier migration or a data fix, and stop the application from writing new ones, then add the "
    "unique index."
)
_CONSTRAINTS = {enums.ConstrType.CONSTR_UNIQUE: "UNIQUE constraint", enums.ConstrType.CONSTR_PRIMARY: "PRIMARY KEY"}


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if isinstance(node, ast.IndexStmt):
        if not node.unique:
            return
        from pglast.stream import RawStream  # its printers cost ~5 ms of start-up; only unique indexes need it

        table = table_of(node.relation)
        elems = list(node.indexParams or ())
        columns = [e.name for e in elems if e.name]
        keys = [_quoted(e.name) if e.name else RawStream()(e.expr) for e in elems]
        predicate = RawStream()(node.whereClause) if node.whereClause is not None else None
        what = f"unique index {node.idxname}" if node.idxname else "unique index"
        yield from _judge(stmt, ctx, table, what, columns, keys, predicate, not node.nulls_not_distinct,
                          concurrent=bool(node.concurrent))
        return
    table = table_of(node.relation)
    for cmd in node.cmds or ():
        constraint = cmd.def_
        if (cmd.subtype != enums.AlterTableType.AT_AddConstraint or not isinstance(constraint, ast.Constraint)
                or constraint.contype not in _CONSTRAINTS or constraint.indexname):
            continue
        columns = [k.sval for k in constraint.keys or ()]
        name = f" {constraint.conname}" if constraint.conname else ""
        yield from _judge(stmt, ctx, table, f"{_CONSTRAINTS[constraint.contype]}{name}", columns,
                          [_quoted(c) for c in columns], None, not constraint.nulls_not_distinct, concurrent=False,
                          primary=constraint.contype == enums.ConstrType.CONSTR_PRIMARY)


def _judge(stmt: Statement, ctx: RuleContext, table: QualifiedName | None, what: str, columns: list[str],
           keys: list[str], predicate: str | None, nulls_distinct: bool, *, concurrent: bool,
           primary: bool = False) -> Iterator[Hit]:
    if table is None or not keys or ctx.is_new(table) or ctx.state.empty_because(table, stmt.node):
        return
    if any((table.key, c) in ctx.state.new_columns for c in columns):
        return  # a column added in this set holds only what the migration itself writes
    facts = ctx.table(table)
    on = f"{what} on {table.display} ({', '.join(keys)})"
    if facts is not None and facts.empty:
        return
    if facts is not None and any(c not in facts.columns for c in columns):
        return  # a column the database does not have yet: nothing to count
    if not ctx.facts.live:
        yield Hit(Severity.INFO, f"Adds {on}: it fails if existing rows hold duplicate values, which cannot "
                  "be known without live context", SUGGESTION, table)
        return
    found = ctx.facts.duplicate_keys(table, tuple(keys), predicate, nulls_distinct)
    if found is None:
        yield Hit(Severity.INFO, f"Adds {on}: duplicate values could not be counted (the lookup failed or "
                  "timed out), so whether it fails is not known", SUGGESTION, table, facts.context if facts else {})
        return
    context = {**(facts.context if facts else {}), "duplicate_keys": found.count, "capped": found.capped}
    problems = [f"{found.phrase} key values are held by more than one row"] if found.count else []
    if primary and facts is not None and not all(facts.columns[c].not_null for c in columns):
        nulls = ctx.facts.rows_with_null(table, tuple(columns))  # a primary key also makes them NOT NULL
        if nulls is not None and nulls.count:
            problems.append(f"{nulls.phrase} rows have a NULL in the key (a primary key is NOT NULL)")
            context["null_keys"] = nulls.count
    if not problems:
        return
    left = " and leaves an INVALID index behind" if concurrent else ""
    message = f"Adds {on}, but {' and '.join(problems)} now: the statement fails{left}"
    if table.key in ctx.state.rows_changed:  # a dedupe before the index: the count of now may not hold then
        yield Hit(Severity.MEDIUM, message + f", unless the statements writing {table.display} earlier in this "
                  "plan remove them", SUGGESTION, table, context)
        return
    yield Hit(Severity.HIGH, message, SUGGESTION, table, context)
