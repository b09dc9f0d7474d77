"""drop-column: ALTER TABLE ... DROP COLUMN loses the column's values and breaks old code."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "drop-column"
CATEGORY = Category.DATA_LOSS
NODES = (ast.AlterTableStmt,)
SUBCOMMANDS = frozenset({enums.AlterTableType.AT_DropColumn})
SUGGESTION = (
    "Expand/contract: first deploy code that neither reads nor writes the column (Prisma/Laravel/"
    "Alembic models without it), then drop it in a later release, after a verified backup."
)
#: The second consequence, whatever the data: the release still running names the column.
BREAKS = (", and the release still running fails on every query that names the column until code "
          "without it is deployed (backward-incompatible: deploy that code first)")


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(stmt.node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in stmt.node.cmds or ():
        if cmd.subtype != enums.AlterTableType.AT_DropColumn or not cmd.name:
            continue
        column = cmd.name
        if (table.key, column) in ctx.state.new_columns:
            continue
        where = f"{table.display}.{column}"
        facts = ctx.size_facts(table, stmt)
        if facts is not None and facts.empty_because is not None:
            yield Hit(Severity.LOW, f"Drops column {where}, which holds no values ({facts.empty_because}){BREAKS}",
                      SUGGESTION, table, facts.context)
            continue
        if facts is not None and column not in facts.columns:
            continue  # already gone, or added by a statement pgwarden cannot see: nothing to lose
        count = ctx.facts.non_null_count(table, column)
        if count is None:
            yield Hit(Severity.HIGH, f"Drops column {where} and every value in it{BREAKS}", SUGGESTION, table,
                      facts.context if facts else {})
        elif count.count == 0:
            yield Hit(Severity.LOW, f"Drops column {where}, which holds no values now (all NULL){BREAKS}",
                      SUGGESTION, table, {**(facts.context if facts else {}), "non_null": 0})
        else:
            about = "about " if count.sampled else ""
            yield Hit(Severity.HIGH, f"Drops {about}{count.count:,} non-null values of {where}{BREAKS}", SUGGESTION,
                      table, {**(facts.context if facts else {}), "non_null": count.count,
                              "sampled": count.sampled})
