"""drop-schema: DROP SCHEMA removes every object in it (with CASCADE, silently)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, enums

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement

ID = "drop-schema"
CATEGORY = Category.DATA_LOSS
NODES = (ast.DropStmt,)
SUGGESTION = (
    "Move or drop the schema's tables one by one in earlier, reviewed migrations, then drop the "
    "empty schema without CASCADE so PostgreSQL refuses if anything is left."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    node = stmt.node
    if node.removeType != enums.ObjectType.OBJECT_SCHEMA:
        return
    cascade = node.behavior == enums.DropBehavior.DROP_CASCADE
    for names in node.objects or ():
        schema = names.sval if isinstance(names, ast.String) else names[-1].sval
        if cascade:
            yield Hit(Severity.CRITICAL, f"Drops schema {schema} with CASCADE: every table in it and its data, "
                      "and the release still running fails on every query of them (backward-incompatible: "
                      "deploy code without them first)", SUGGESTION)
        else:
            yield Hit(Severity.MEDIUM, f"Drops schema {schema} (fails unless it is empty)", SUGGESTION)
