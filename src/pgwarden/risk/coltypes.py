"""The old and new type of an ALTER COLUMN ... TYPE, from live context or earlier statements.

Shared by ``change-column-type`` (rewrites) and ``narrow-column-type`` (data that may not fit).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.risk.rule import RuleContext
from pgwarden.risk.sqlast import table_of, type_name
from pgwarden.risk.typechange import TypeChange, canonical, classify

_DISPLAY = {"int8": "bigint", "int4": "integer", "int2": "smallint", "float8": "double precision",
            "float4": "real", "bpchar": "char", "bool": "boolean"}


@dataclass(frozen=True)
class ColumnTypeChange:
    table: QualifiedName
    column: str
    new: tuple[str, tuple[int, ...]]
    new_display: str
    #: None when pgwarden does not know the current type (static plan, column unknown).
    old: tuple[str, tuple[int, ...]] | None
    old_display: str | None
    has_using: bool

    @property
    def kind(self) -> TypeChange | None:
        return classify(self.old, self.new) if self.old is not None else None


def type_changes(node: ast.AlterTableStmt, ctx: RuleContext) -> list[ColumnTypeChange]:
    """The ALTER COLUMN ... TYPE changes of ``node``. Asked by two rules (change- and narrow-column-type) for the same
    statement in a row (nothing they ask changes in between): the last answer is kept."""
    global _last
    last = _last
    if last[0] is node and last[1] is ctx:
        return last[2]
    changes = list(_type_changes(node, ctx))
    _last = (node, ctx, changes)  # one assignment: a reviewing thread never sees another's half
    return changes


_last: tuple[object, object, list[ColumnTypeChange]] = (None, None, [])


def _type_changes(node: ast.AlterTableStmt, ctx: RuleContext) -> Iterator[ColumnTypeChange]:
    table = table_of(node.relation)
    if table is None or ctx.is_new(table):
        return
    for cmd in node.cmds or ():
        if cmd.subtype != enums.AlterTableType.AT_AlterColumnType or not isinstance(cmd.def_, ast.ColumnDef):
            continue
        name, mods, is_array = type_name(cmd.def_.typeName)
        new = ("_" + canonical(name) if is_array else canonical(name), mods)
        display = _DISPLAY.get(name, name) + (f"({','.join(map(str, mods))})" if mods else "") + (
            "[]" if is_array else "")
        old: tuple[str, tuple[int, ...]] | None = None
        old_display: str | None = None
        facts = ctx.table(table)
        if facts is not None and cmd.name in facts.columns:
            column = facts.columns[cmd.name]
            old, old_display = (column.type_name, column.mods), column.display_type
        elif (table.key, cmd.name) in ctx.state.new_columns:
            old = ctx.state.new_columns[(table.key, cmd.name)]
            old = (canonical(old[0]), old[1])
            old_display = _DISPLAY.get(old[0], old[0]) + (f"({','.join(map(str, old[1]))})" if old[1] else "")
        yield ColumnTypeChange(table, cmd.name, new, display, old, old_display, cmd.def_.raw_default is not None)
