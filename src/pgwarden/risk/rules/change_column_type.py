"""change-column-type: ALTER COLUMN ... TYPE rewrites the table under ACCESS EXCLUSIVE, unless
PostgreSQL can reuse the stored bytes (varchar widening, varchar -> text, numeric precision up).

With live context the real current type decides; statically, targets that are often a cheap
widening (text, varchar, numeric) are medium and the others high.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.coltypes import type_changes
from pgwarden.risk.rule import Hit, RuleContext, Statement, size_hit
from pgwarden.risk.typechange import MAYBE_CHEAP_TARGETS, TypeChange

ID = "change-column-type"
CATEGORY = Category.TABLE_REWRITE
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_AlterColumnType})
SUGGESTION = (
    "Add a new column with the new type, write both from the application, backfill in batches, "
    "switch reads, then drop the old column. Widening varchar/numeric or varchar -> text is "
    "safe as is."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    for change in type_changes(stmt.node, ctx):
        where = f"{change.table.display}.{change.column}"
        kind = change.kind
        if kind in (TypeChange.SAME, TypeChange.NO_REWRITE):
            continue
        if kind is None:
            cheap = change.new[0].lstrip("_") in MAYBE_CHEAP_TARGETS and not change.has_using
            base = Severity.MEDIUM if cheap else Severity.HIGH
            message = (f"Changes the type of {where} to {change.new_display}: this rewrites the table and its "
                       "indexes under an ACCESS EXCLUSIVE lock" + (" unless it only widens the current type"
                                                                  if cheap else ""))
            facts = ctx.size_facts(change.table, stmt)
            if facts is not None and facts.empty_because is not None:
                yield size_hit(base, facts, change.table, message, SUGGESTION, work="reads and writes are blocked")
            else:
                yield Hit(base, message, SUGGESTION, change.table)
            continue
        yield size_hit(Severity.HIGH, ctx.size_facts(change.table, stmt), change.table,
                       f"Changes {where} from {change.old_display} to {change.new_display}: this rewrites the "
                       "table and its indexes under an ACCESS EXCLUSIVE lock", SUGGESTION,
                       work="reads and writes are blocked")
