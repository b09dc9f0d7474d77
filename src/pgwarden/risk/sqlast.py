"""Small, pure helpers over pglast's AST: names, type names, walking, expressions.

Rules read the parse tree through these so each rule states its logic, not pglast's shape.
Table names are :class:`~pgwarden.names.QualifiedName` as written (schema None when the SQL
names none); their ``key`` makes ``public.users`` and ``users`` the same table for pgwarden
(migrations almost always run with the default search_path), other schemas stay qualified.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pglast import ast, enums

from pgwarden.names import QualifiedName

# Functions whose value changes per row: a column default calling one of these makes
# ADD COLUMN fill every existing row, i.e. rewrite the table. (now()/current_timestamp are
# STABLE and evaluated once, so they stay metadata-only.)
VOLATILE_FUNCTIONS = frozenset(
    {
        "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
        "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval", "setseed", "random_normal",
        "txid_current", "pg_current_xact_id",
    }
)
# Builtins that are stable or immutable and commonly used as defaults.
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now", "statement_timestamp", "transaction_timestamp", "current_timestamp", "lower", "upper",
        "to_jsonb", "jsonb_build_object", "json_build_object", "array", "concat", "coalesce",
        "make_interval", "to_timestamp", "timezone", "length", "md5", "abs", "greatest", "least",
    }
)
SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})


def table_of(range_var: Any) -> QualifiedName | None:
    if range_var is None or range_var.relname is None:
        return None
    return qualified_name(range_var.schemaname, range_var.relname)


@lru_cache(maxsize=4096)
def qualified_name(schema: str | None, name: str) -> QualifiedName:
    """One shared (immutable) name per table: rules ask for the same few tables' names, and their
    ``key``, tens of thousands of times in a large set."""
    return QualifiedName(schema, name)


def table_from_names(names: Any) -> QualifiedName:
    """``DROP TABLE a.b``-style name lists (tuples of String nodes)."""
    parts = [n.sval for n in names]
    return qualified_name(parts[-2] if len(parts) > 1 else None, parts[-1])


def type_name(type_node: Any) -> tuple[str, tuple[int, ...], bool]:
    """(internal type name, integer type modifiers, is_array) of a TypeName node.

    ``varchar(20)`` -> ("varchar", (20,), False); ``bigint`` -> ("int8", (), False).
    """
    if type_node is None or not type_node.names:
        return ("", (), False)
    name = type_node.names[-1].sval
    mods: list[int] = []
    for mod in type_node.typmods or ():
        value = getattr(getattr(mod, "val", None), "ival", None)
        if isinstance(value, int):
            mods.append(value)
    return (name, tuple(mods), bool(type_node.arrayBounds))


def walk(node: Any) -> Iterator[Any]:
    """Every node below (and including) ``node``, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (list, tuple)):
            stack.extend(current)
            continue
        if not isinstance(current, ast.Node):
            continue
        yield current
        for attr in child_slots(type(current)):
            value = getattr(current, attr, None)
            if isinstance(value, (ast.Node, list, tuple)):
                stack.append(value)


def child_slots(node_type: type) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes: pglast declares each slot's type, and a
    walk need not read the names, flags and locations (two thirds of the slots)."""
    names = _CHILD_SLOTS.get(node_type)
    if names is None:
        slots = getattr(node_type, "__slots__", ())
        names = _CHILD_SLOTS[node_type] = tuple(slots) if not isinstance(slots, dict) else tuple(
            name for name, info in slots.items() if _may_hold_nodes(getattr(info, "py_type", None)))
    return names


_CHILD_SLOTS: dict[type, tuple[str, ...]] = {}


def _may_hold_nodes(py_type: Any) -> bool:
    types = py_type if isinstance(py_type, tuple) else (py_type,)
    # Unknown (no declared type) counts as "may": the walk then reads it, as it did every slot.
    return not all(isinstance(t, type) for t in types) or any(issubclass(t, (ast.Node, list, tuple)) for t in types)


def nodes_of(node: Any, kind: type) -> Iterator[Any]:
    """Nodes of one type below ``node`` (typed Any: pglast's stubs make every field Optional)."""
    return (n for n in walk(node) if isinstance(n, kind))


def function_names(expr: Any) -> list[str]:
    """Names (without schema) of every function called in an expression."""
    return [str(fn.funcname[-1].sval).lower() for fn in nodes_of(expr, ast.FuncCall)]


def is_constant(expr: Any) -> bool:
    """True when the expression has no function calls, column or subquery references."""
    for node in walk(expr):
        if isinstance(node, (ast.FuncCall, ast.ColumnRef, ast.SubLink, ast.ParamRef)):
            return False
    return True


def string_constants(node: Any) -> set[str]:
    """Every string literal ('...') in a statement."""
    return {
        str(n.val.sval) for n in walk(node) if isinstance(n, ast.A_Const) and isinstance(n.val, ast.String)
    }


def proves_not_null(expr: Any, column: str) -> bool:
    """True when a CHECK expression guarantees ``column IS NOT NULL`` (possibly AND-ed)."""
    node: Any = expr
    if isinstance(node, ast.NullTest):
        arg: Any = node.arg
        return (
            node.nulltesttype == enums.NullTestType.IS_NOT_NULL
            and isinstance(arg, ast.ColumnRef)
            and getattr((arg.fields or (None,))[-1], "sval", None) == column
        )
    if isinstance(expr, ast.BoolExpr) and expr.boolop == enums.BoolExprType.AND_EXPR:
        return any(proves_not_null(arg, column) for arg in expr.args or ())
    return False


def column_constraints(column: Any) -> list[ast.Constraint]:
    return [c for c in column.constraints or () if isinstance(c, ast.Constraint)]


def column_default(column: Any) -> Any:
    for constraint in column.constraints or ():
        if isinstance(constraint, ast.Constraint) and constraint.contype == enums.ConstrType.CONSTR_DEFAULT:
            return constraint.raw_expr
    return column.raw_default


# Loops over the constraints, not any(...) over a list of them: asked for every column a large set adds.
_NOT_NULL = frozenset({enums.ConstrType.CONSTR_NOTNULL, enums.ConstrType.CONSTR_PRIMARY})
_FILLS_ITSELF = frozenset({enums.ConstrType.CONSTR_IDENTITY, enums.ConstrType.CONSTR_GENERATED})


def column_is_not_null(column: Any) -> bool:
    if column.is_not_null:
        return True
    return _has_constraint(column, _NOT_NULL)


def column_fills_itself(column: Any) -> bool:
    """Identity, generated and serial columns get a value for every row without a DEFAULT."""
    if type_name(column.typeName)[0] in SERIAL_TYPES:
        return True
    return _has_constraint(column, _FILLS_ITSELF)


def _has_constraint(column: Any, kinds: frozenset[enums.ConstrType]) -> bool:
    for constraint in column.constraints or ():
        if isinstance(constraint, ast.Constraint) and constraint.contype in kinds:
            return True
    return False


def has_option(options: Any, name: str) -> bool:
    """DefElem option lists (VACUUM (FULL), REINDEX (CONCURRENTLY)); ``FALSE`` turns it off."""
    for option in options or ():
        if isinstance(option, ast.DefElem) and option.defname == name:
            arg = option.arg
            if isinstance(arg, ast.Boolean):
                return bool(arg.boolval)
            if isinstance(arg, ast.String):
                return str(arg.sval).lower() not in ("false", "off", "0")
            if isinstance(arg, ast.Integer):
                return arg.ival != 0
            return True
    return False
