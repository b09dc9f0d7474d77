"""enum-value-removed-in-use: recreating an enum type without some of its labels (how Prisma and
hand-written migrations remove enum values) fails while rows still hold a dropped label, and breaks
the running release that still writes it.

The pattern: ``CREATE TYPE "Role_new" AS ENUM (...)``, then ``ALTER TABLE ... ALTER COLUMN ... TYPE
"Role_new" USING (col::text::"Role_new")``, then renames and a ``DROP TYPE``. The cast fails on the
first row whose value the new type lacks. With live context the column's current type gives the
labels being removed and the rows holding them are counted (read-only, bounded, under
``risk.statement_timeout``).
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "enum-value-removed-in-use"
CATEGORY = Category.WILL_FAIL
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AlterColumnType})
SUGGESTION = (
    "First deploy code that no longer writes the value, then migrate the rows that hold it "
    "(UPDATE t SET col = 'OTHER' WHERE col = 'OLD') in an earlier migration, and only then recreate the "
    "type without it."
)


def _labels(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    created = ctx.state.migration.created_enums
    if table is None or not created or ctx.is_new(table) or ctx.state.empty_because(table, stmt.node):
        return
    for cmd in stmt.node.cmds or ():
        if cmd.subtype != enums.AlterTableType.AT_AlterColumnType or not isinstance(cmd.def_, ast.ColumnDef):
            continue
        type_node = cmd.def_.typeName
        if type_node is None or not type_node.names:
            continue
        new_type = str(type_node.names[-1].sval)
        column = cmd.name
        if new_type not in created or not column or (table.key, column) in ctx.state.new_columns:
            continue
        yield from _judge(ctx, table, column, new_type, created[new_type], bool(type_node.arrayBounds))


def _judge(ctx: RuleContext, table: QualifiedName, column: str, new_type: str, new_labels: tuple[str, ...],
           array: bool) -> Iterator[Hit]:
    where = f"{table.display}.{column}"
    unknown = Hit(Severity.MEDIUM, f"Converts {where} to enum {new_type}, created in this migration: if {new_type} "
                  "lacks a value that rows still hold (removing enum values), the cast fails and so does the "
                  "migration; which rows do cannot be known without live context", SUGGESTION, table)
    facts = ctx.table(table)
    if facts is None:
        yield unknown
        return
    current = facts.columns.get(column)
    if current is None:
        return  # the database has no such column: not a conversion of existing rows
    old_labels = ctx.facts.enum_labels(current.type_name.lstrip("_") if array else current.type_name)
    if old_labels is None:
        return  # not an enum now (or unreadable): not the removal of enum values
    removed = [label for label in old_labels if label not in new_labels]
    if not removed:
        return  # only adds or reorders labels: every current value still fits
    gone = f"{_labels(removed)} of {current.display_type}"
    context = {**facts.context, "removed": removed}
    holding = None if array else ctx.facts.rows_holding(table, column, tuple(removed))
    if holding is None:
        yield Hit(Severity.MEDIUM, f"Converts {where} to enum {new_type}, which drops {gone}: if rows still hold "
                  "them the cast fails and so does the migration (the rows could not be counted)", SUGGESTION,
                  table, context)
    elif holding.count == 0:
        yield Hit(Severity.LOW, f"Converts {where} to enum {new_type}, which drops {gone}: no row holds them "
                  "now, but the running release fails if it still writes them", SUGGESTION, table,
                  {**context, "rows_holding": 0}, category=Category.BACKWARD_INCOMPATIBLE)
    elif table.key in ctx.state.rows_changed:
        # The count reads the database before the plan's own data fix: an earlier statement naming
        # every dropped label remaps them (low), one naming only some may or may not (medium).
        remapped = set(removed) <= ctx.state.rows_changed[table.key]
        yield Hit(Severity.LOW if remapped else Severity.MEDIUM, f"Converts {where} to enum {new_type}, which drops "
                  f"{gone}; {holding.phrase} rows hold them now: the cast fails unless the statements writing "
                  f"{table.display} earlier in this plan change them"
                  + (" (they name every dropped value)" if remapped else ""), SUGGESTION, table,
                  {**context, "rows_holding": holding.count, "capped": holding.capped, "remapped_earlier": remapped})
    else:
        yield Hit(Severity.HIGH, f"Converts {where} to enum {new_type}, which drops {gone}, but {holding.phrase} "
                  "rows still hold them: the cast fails and so does the migration", SUGGESTION, table,
                  {**context, "rows_holding": holding.count, "capped": holding.capped})
