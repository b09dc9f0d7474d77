"""Which tables a migration's SQL refers to: pure analysis of the parse tree, no database.

``deploy``'s pre-flight looks only for sessions holding locks on these tables, and ``verify``
leaves their row counts out of the comparison (the migration was meant to change them).
"""

from __future__ import annotations

from typing import Any

import pglast
from pglast.visitors import Visitor

from pgwarden.names import QualifiedName


class _CollectTables(Visitor):  # type: ignore[misc]  # pglast ships no type hints
    def __init__(self) -> None:
        super().__init__()
        self.names: set[QualifiedName] = set()

    def visit_RangeVar(self, ancestors: Any, node: Any) -> None:
        self.names.add(QualifiedName(node.schemaname or None, node.relname))

    def visit_DropStmt(self, ancestors: Any, node: Any) -> None:
        # DROP TABLE names its objects as lists of String nodes: [table], [schema, table] or
        # [catalog, schema, table]; the last two are what identifies the table.
        for obj in node.objects or ():
            if isinstance(obj, tuple):
                parts = [getattr(p, "sval", None) for p in obj]
                if parts and all(isinstance(p, str) for p in parts):
                    schema = str(parts[-2]) if len(parts) >= 2 else None
                    self.names.add(QualifiedName(schema, str(parts[-1])))


def tables_touched(sql: str) -> set[QualifiedName] | None:
    """The tables a SQL text refers to (``schema`` None when unqualified); None when it cannot be parsed."""
    collect = _CollectTables()
    try:
        collect(pglast.parse_sql(sql))
    except Exception:  # noqa: BLE001 - pglast raises parser and visitor errors alike: "unknown"
        return None
    return collect.names
