"""What earlier statements of the migration set did, so rules know what is new and what is proven.

The engine feeds every parsed statement to :meth:`SetState.observe` *after* the rules saw it.
Objects created earlier in the set are new and empty: an index, a foreign key or NOT NULL on
them locks nothing anyone waits for. Per-migration facts (explicit transaction, lock_timeout,
enum labels added in the open transaction) reset at each migration boundary.

A table can also be *known empty* at a point of one migration, though it exists: after an
``ADD COLUMN ... NOT NULL`` without a default (it succeeds only on an empty table, so anything
after it runs on one), a ``TRUNCATE`` or a ``DELETE`` without ``WHERE``. Until a row is inserted,
later index builds, constraints and drops on it are instant and lose nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums

from pgwarden.names import QualifiedName
from pgwarden.risk.sqlast import (
    column_default,
    column_fills_itself,
    column_is_not_null,
    nodes_of,
    proves_not_null,
    qualified_name,
    string_constants,
    table_from_names,
    table_of,
    type_name,
)

_BEGIN = (enums.TransactionStmtKind.TRANS_STMT_BEGIN, enums.TransactionStmtKind.TRANS_STMT_START)
_END = (
    enums.TransactionStmtKind.TRANS_STMT_COMMIT,
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
    enums.TransactionStmtKind.TRANS_STMT_PREPARE,
    enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
)


@dataclass(frozen=True)
class HeldLock:
    """A strong lock on an existing table, taken at ``line`` by a statement of ``kind`` (see risk/txlocks.py)."""

    key: str
    schema: str | None
    name: str
    line: int
    kind: str

    @property
    def table(self) -> QualifiedName:
        return qualified_name(self.schema, self.name)  # the one shared name of the table


@dataclass(frozen=True)
class Footprint:
    """A transaction that held strong locks on many tables: where it is reported, and its locks."""

    line: int
    statement: str
    locks: tuple[HeldLock, ...]


@dataclass
class MigrationState:
    """Facts that hold within one migration file."""

    name: str
    #: Inside an explicit BEGIN ... COMMIT written in the file.
    in_transaction: bool = False
    lock_timeout_set: bool = False
    #: Enum labels added (ALTER TYPE ... ADD VALUE) in the still-open transaction.
    new_enum_labels: dict[str, str] = field(default_factory=dict)
    #: (table key, constraint name) added NOT VALID in this migration's open transaction.
    not_valid_here: set[tuple[str, str]] = field(default_factory=set)
    #: Keys a rule asked to report once per migration.
    reported: set[str] = field(default_factory=set)
    #: Table key -> the strong lock the open transaction holds on it, in the order taken.
    held_locks: dict[str, HeldLock] = field(default_factory=dict)
    #: lock-footprint: line of a transaction's first lock -> its footprint (survives the COMMIT).
    footprints: dict[int, Footprint] = field(default_factory=dict)
    #: Table key -> why it holds no rows at this point of the migration (see the module docstring).
    known_empty: dict[str, str] = field(default_factory=dict)
    #: Enum types created in this migration -> their labels.
    created_enums: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class SetState:
    new_tables: set[str] = field(default_factory=set)
    new_indexes: set[str] = field(default_factory=set)
    #: (table key, column) -> (type name, mods) of columns added in this set.
    new_columns: dict[tuple[str, str], tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    #: (table key, column) proven NOT NULL by a validated CHECK constraint.
    proven_not_null: set[tuple[str, str]] = field(default_factory=set)
    #: (table key, constraint name) -> CHECK expression, for constraints added NOT VALID.
    pending_checks: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: Table key -> the string literals of the UPDATE/DELETE/INSERT/MERGE statements on it so far in
    #: the set: a data fix before a unique index or an enum recreation, which the live counts of now
    #: cannot see (the literals tell which enum labels an UPDATE remaps).
    rows_changed: dict[str, set[str]] = field(default_factory=dict)
    migration: MigrationState = field(default_factory=lambda: MigrationState(""))

    def start_migration(self, name: str) -> None:
        self.migration = MigrationState(name)

    def is_new_table(self, table: QualifiedName | None) -> bool:
        return table is not None and table.key in self.new_tables

    def empty_because(self, table: QualifiedName | None, node: Any = None) -> str | None:
        """Why ``table`` is known to hold no rows when statement ``node`` runs, or None.

        ``node`` is the statement being reviewed (not observed yet): an ALTER TABLE that adds a
        NOT NULL column without a default empties nothing, but the whole statement succeeds only
        on an empty table, so its other commands run on one.
        """
        if table is None:
            return None
        reason = self.migration.known_empty.get(table.key)
        if reason is None and isinstance(node, ast.AlterTableStmt):
            reason = _required_column_reason(node, table)
        return reason

    def _known_empty(self, table: QualifiedName | None, how: str) -> None:
        if table is not None and table.key not in self.new_tables:
            self.migration.known_empty.setdefault(table.key, f"{table.display} is empty: {how}")

    def observe(self, node: Any) -> None:
        """Record what one statement did (called after the rules have looked at it)."""
        observer = _OBSERVERS.get(type(node))  # one lookup, not a chain of isinstance per statement
        if observer is not None:
            observer(self, node)

    def _observe_transaction(self, node: Any) -> None:
        m = self.migration
        if node.kind in _BEGIN:
            m.in_transaction = True
        elif node.kind in _END:
            m.in_transaction = False
            m.new_enum_labels.clear()
            m.not_valid_here.clear()

    def _observe_set(self, node: Any) -> None:
        if node.name == "lock_timeout":
            self.migration.lock_timeout_set = node.kind != enums.VariableSetKind.VAR_RESET and not _is_zero(node.args)

    def _observe_select(self, node: Any) -> None:
        if "lock_timeout" in string_constants(node):
            self.migration.lock_timeout_set = True  # select set_config('lock_timeout', '5s', ...)

    def _observe_create_as(self, node: Any) -> None:
        table = table_of(node.into.rel) if node.into is not None else None
        if table is not None:
            self.new_tables.add(table.key)

    def _observe_index(self, node: Any) -> None:
        if node.idxname:
            self.new_indexes.add(node.idxname)

    def _observe_create_enum(self, node: Any) -> None:
        if node.typeName:
            self.migration.created_enums[str(node.typeName[-1].sval)] = tuple(str(v.sval) for v in node.vals or ())

    def _observe_alter_enum(self, node: Any) -> None:
        if node.newVal and not node.oldVal:
            self.migration.new_enum_labels[node.newVal] = ".".join(str(n.sval) for n in node.typeName or ())

    def _observe_rename(self, node: Any) -> None:
        if node.renameType != enums.ObjectType.OBJECT_TABLE:
            return
        old = table_of(node.relation)
        if old is None or not node.newname:
            return
        if old.key in self.new_tables:
            self.new_tables.add(QualifiedName(old.schema, node.newname).key)
        known = self.migration.known_empty
        if old.key in known:
            known[QualifiedName(old.schema, node.newname).key] = known.pop(old.key)

    def _observe_drop(self, node: Any) -> None:
        if node.removeType != enums.ObjectType.OBJECT_TABLE:
            return
        for names in node.objects or ():
            self.new_tables.discard(table_from_names(names).key)
            self.migration.known_empty.pop(table_from_names(names).key, None)

    # Which tables are known empty: emptied, or proven empty, or filled again; and what was written.

    def _observe_truncate(self, node: Any) -> None:
        for relation in node.relations or ():
            self._known_empty(table_of(relation), "a TRUNCATE earlier in this migration empties it")

    def _observe_delete(self, node: Any) -> None:
        if node.whereClause is None and not node.usingClause:
            self._known_empty(table_of(node.relation), "a DELETE without WHERE earlier in this migration empties it")
        self._observe_written(node)

    def _observe_insert(self, node: Any) -> None:  # INSERT and MERGE
        self._observe_filled(node)
        self._observe_written(node)

    def _observe_copy(self, node: Any) -> None:
        if node.is_from:
            self._observe_filled(node)

    def _observe_code(self, node: Any) -> None:  # DO and CALL
        self.migration.known_empty.clear()  # code pgwarden does not follow may insert anywhere

    def _observe_filled(self, node: Any) -> None:
        table = table_of(node.relation)
        if table is not None:
            self.migration.known_empty.pop(table.key, None)

    def _observe_written(self, node: Any) -> None:  # UPDATE, DELETE, INSERT, MERGE
        written = table_of(node.relation)
        if written is not None:
            self.rows_changed.setdefault(written.key, set()).update(string_constants(node))

    def _observe_create(self, node: Any) -> None:
        table = table_of(node.relation)
        if table is None:
            return
        self.new_tables.add(table.key)
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef) and element.colname:
                name, mods, _ = type_name(element.typeName)
                self.new_columns[(table.key, element.colname)] = (name, mods)

    def _observe_alter(self, node: Any) -> None:
        table = table_of(node.relation)
        if table is None:
            return
        for cmd in node.cmds or ():
            subtype = cmd.subtype
            if subtype == enums.AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                column: Any = cmd.def_
                name, mods, _ = type_name(column.typeName)
                self.new_columns[(table.key, column.colname)] = (name, mods)
                if column_is_not_null(column):
                    self.proven_not_null.add((table.key, column.colname))
            elif subtype == enums.AlterTableType.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
                if (table.key, cmd.name) in self.new_columns:
                    name, mods, _ = type_name(cmd.def_.typeName)
                    self.new_columns[(table.key, cmd.name)] = (name, mods)
            elif subtype == enums.AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                self._observe_constraint(table, cmd.def_)
            elif subtype == enums.AlterTableType.AT_ValidateConstraint and cmd.name:
                expr = self.pending_checks.pop((table.key, cmd.name), None)
                if expr is not None:
                    self._prove(table, expr)
            elif subtype == enums.AlterTableType.AT_SetNotNull and cmd.name:
                self.proven_not_null.add((table.key, cmd.name))
        reason = _required_column_reason(node, table)
        if reason is not None and table.key not in self.new_tables:
            self.migration.known_empty.setdefault(table.key, reason)

    def _observe_constraint(self, table: QualifiedName, constraint: Any) -> None:
        if constraint.conname and constraint.skip_validation:
            self.migration.not_valid_here.add((table.key, constraint.conname))
        if constraint.contype != enums.ConstrType.CONSTR_CHECK:
            return
        if constraint.skip_validation:
            if constraint.conname:
                self.pending_checks[(table.key, constraint.conname)] = constraint.raw_expr
        else:
            self._prove(table, constraint.raw_expr)

    def _prove(self, table: QualifiedName, expr: Any) -> None:
        for column_ref in _column_refs(expr):
            if proves_not_null(expr, column_ref):
                self.proven_not_null.add((table.key, column_ref))


def _required_column_reason(node: Any, table: QualifiedName | None) -> str | None:
    """Why ALTER TABLE ``node`` proves ``table`` empty: it adds a NOT NULL column that nothing fills.

    Asked several times per ALTER TABLE (its rules, the lock record, the state): the last answer is kept.
    """
    global _last_reason
    last = _last_reason
    if last[0] is node and last[1] is table:
        return last[2]
    reason = _column_reason(node, table)
    _last_reason = (node, table, reason)  # one assignment: a reviewing thread never sees another's half
    return reason


_last_reason: tuple[Any, QualifiedName | None, str | None] = (None, None, None)


def _column_reason(node: Any, table: QualifiedName | None) -> str | None:
    own = table_of(node.relation)
    if table is None or own is None or own.key != table.key:
        return None
    for cmd in node.cmds or ():
        column = cmd.def_
        if cmd.subtype != enums.AlterTableType.AT_AddColumn or not isinstance(column, ast.ColumnDef):
            continue
        if column_is_not_null(column) and column_default(column) is None and not column_fills_itself(column):
            return (f"{table.display} must be empty: {table.display}.{column.colname} is added NOT NULL "
                    "without a default in this migration, which fails on a table with rows")
    return None


def _column_refs(expr: Any) -> set[str]:
    return {
        str(n.fields[-1].sval) for n in nodes_of(expr, ast.ColumnRef) if hasattr(n.fields[-1], "sval")
    }


def _is_zero(args: Any) -> bool:
    for arg in args or ():
        value = getattr(arg, "val", None)
        if isinstance(value, ast.Integer):
            return bool(value.ival == 0)
        if isinstance(value, ast.String):
            return str(value.sval).strip() in ("0", "0s", "0ms")
    return False


_OBSERVERS: dict[type, Callable[[SetState, Any], None]] = {
    ast.TransactionStmt: SetState._observe_transaction,
    ast.VariableSetStmt: SetState._observe_set,
    ast.SelectStmt: SetState._observe_select,
    ast.CreateStmt: SetState._observe_create,
    ast.CreateTableAsStmt: SetState._observe_create_as,
    ast.IndexStmt: SetState._observe_index,
    ast.AlterTableStmt: SetState._observe_alter,
    ast.CreateEnumStmt: SetState._observe_create_enum,
    ast.AlterEnumStmt: SetState._observe_alter_enum,
    ast.RenameStmt: SetState._observe_rename,
    ast.DropStmt: SetState._observe_drop,
    ast.TruncateStmt: SetState._observe_truncate,
    ast.DeleteStmt: SetState._observe_delete,
    ast.InsertStmt: SetState._observe_insert,
    ast.MergeStmt: SetState._observe_insert,
    ast.UpdateStmt: SetState._observe_written,
    ast.CopyStmt: SetState._observe_copy,
    ast.DoStmt: SetState._observe_code,
    ast.CallStmt: SetState._observe_code,
}
