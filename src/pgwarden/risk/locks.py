"""Which statements take a lock that stops reads or writes on an existing table.

Used by ``require-lock-timeout``: a migration that queues for one of these locks without a
``lock_timeout`` can stall every query on the table behind it while it waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.risk.sqlast import has_option, table_from_names, table_of

#: LockStmt modes from SHARE (5) up block INSERT/UPDATE/DELETE.
SHARE_MODE = 5
LOCK_MODE_NAMES = {
    1: "ACCESS SHARE", 2: "ROW SHARE", 3: "ROW EXCLUSIVE", 4: "SHARE UPDATE EXCLUSIVE", 5: "SHARE",
    6: "SHARE ROW EXCLUSIVE", 7: "EXCLUSIVE", 8: "ACCESS EXCLUSIVE",
}

#: ALTER TABLE subcommands that take only SHARE UPDATE EXCLUSIVE: reads and writes go on.
_WEAK_ALTERS = frozenset({
    enums.AlterTableType.AT_ValidateConstraint,
    enums.AlterTableType.AT_SetStatistics,
    enums.AlterTableType.AT_ClusterOn,
    enums.AlterTableType.AT_DropCluster,
    enums.AlterTableType.AT_AttachPartition,
})


def strong_lock_tables(node: Any) -> tuple[QualifiedName | None, ...]:
    """Tables this statement locks against writes (None: a table pgwarden cannot name, e.g. DROP INDEX).

    Asked twice per statement (require-lock-timeout, then lock-footprint): the last answer is kept.
    """
    global _last
    last = _last
    if last[0] is node:
        return last[1]
    tables = tuple(_strong_lock_tables(node))
    _last = (node, tables)  # one assignment: a reviewing thread never sees another's half
    return tables


_last: tuple[Any, tuple[QualifiedName | None, ...]] = (None, ())


def _strong_lock_tables(node: Any) -> list[QualifiedName | None]:
    tables = _LOCKED_BY.get(type(node))  # one lookup: most statement types lock nothing
    return tables(node) if tables is not None else []


def _alter_table(node: Any) -> list[QualifiedName | None]:
    # ALTER INDEX / ALTER SEQUENCE / ALTER VIEW are catalog-only in practice.
    if node.objtype not in (enums.ObjectType.OBJECT_TABLE, enums.ObjectType.OBJECT_MATVIEW):
        return []
    for cmd in node.cmds or ():  # a loop, not all(...): asked for every ALTER TABLE of a large set
        if getattr(cmd, "subtype", None) not in _WEAK_ALTERS:
            return [table_of(node.relation)]
    return []


def _index(node: Any) -> list[QualifiedName | None]:
    return [] if node.concurrent else [table_of(node.relation)]


def _drop(node: Any) -> list[QualifiedName | None]:
    if node.concurrent:
        return []
    if node.removeType == enums.ObjectType.OBJECT_TABLE:
        return [table_from_names(n) for n in node.objects or ()]
    if node.removeType == enums.ObjectType.OBJECT_INDEX:
        return [None]
    return []


def _relations(node: Any) -> list[QualifiedName | None]:  # TRUNCATE
    return [table_of(r) for r in node.relations or ()]


def _lock(node: Any) -> list[QualifiedName | None]:
    return [table_of(r) for r in node.relations or ()] if (node.mode or 0) >= SHARE_MODE else []


def _rename(node: Any) -> list[QualifiedName | None]:
    return [table_of(node.relation)] if node.relation is not None else []


def _vacuum(node: Any) -> list[QualifiedName | None]:
    if not has_option(node.options, "full"):
        return []
    return [table_of(r.relation) for r in node.rels or ()] or [None]


def _relation(node: Any) -> list[QualifiedName | None]:  # CLUSTER, CREATE TRIGGER
    return [table_of(node.relation)]


def _refresh(node: Any) -> list[QualifiedName | None]:
    return [] if node.concurrent else [table_of(node.relation)]


def _reindex(node: Any) -> list[QualifiedName | None]:
    if has_option(node.params, "concurrently"):
        return []
    return [table_of(node.relation)] if node.relation is not None else [None]


#: Statement type -> the tables such a statement locks against writes.
_LOCKED_BY: dict[type, Callable[[Any], list[QualifiedName | None]]] = {
    ast.AlterTableStmt: _alter_table,
    ast.IndexStmt: _index,
    ast.DropStmt: _drop,
    ast.TruncateStmt: _relations,
    ast.LockStmt: _lock,
    ast.RenameStmt: _rename,
    ast.VacuumStmt: _vacuum,
    ast.ClusterStmt: _relation,
    ast.RefreshMatViewStmt: _refresh,
    ast.ReindexStmt: _reindex,
    ast.CreateTrigStmt: _relation,
}
