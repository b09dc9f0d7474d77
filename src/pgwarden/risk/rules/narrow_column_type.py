"""narrow-column-type: a type change to a smaller type fails on values that do not fit, or
silently rounds/truncates them (numeric scale, timestamp -> date)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.coltypes import type_changes
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.typechange import TypeChange

ID = "narrow-column-type"
CATEGORY = Category.DATA_LOSS
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AlterColumnType})
SUGGESTION = (
    "Check the data first (SELECT count(*) ... WHERE length(col) > n, or max(col)), keep the old "
    "column until the new one is verified, or keep the wider type and validate with a CHECK "
    "constraint added NOT VALID."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    for change in type_changes(stmt.node, ctx):
        if change.kind is not TypeChange.NARROWING:
            continue
        facts = ctx.size_facts(change.table, stmt)
        if facts is not None and facts.empty:
            continue
        yield Hit(Severity.HIGH,
                  f"Narrows {change.table.display}.{change.column} from {change.old_display} to "
                  f"{change.new_display}: existing values that do not fit make the migration fail or "
                  "are rounded/cut", SUGGESTION, change.table, facts.context if facts else {})
