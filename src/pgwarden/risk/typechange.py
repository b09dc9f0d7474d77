"""Which column type changes PostgreSQL does without a rewrite, and which ones narrow.

Facts (checked against a real server in tests/risk/test_server_facts.py): varchar(n) -> varchar(m>=n),
varchar -> text, text -> varchar, numeric(p,s) -> numeric(q>=p,s) and any numeric -> numeric
keep the relfilenode (no rewrite, only a catalog change); int4 -> int8 and most others rewrite.
"""

from __future__ import annotations

import enum

_INT_WIDTH = {"int2": 2, "int4": 4, "int8": 8}
_TEXTY = {"varchar", "text"}
_FLOAT_WIDTH = {"float4": 4, "float8": 8}


class TypeChange(enum.Enum):
    SAME = "same"
    NO_REWRITE = "no-rewrite"
    REWRITE = "rewrite"
    #: Values may not fit: the ALTER can fail, or (numeric scale, timestamp -> date) lose data.
    NARROWING = "narrowing"


def classify(old: tuple[str, tuple[int, ...]], new: tuple[str, tuple[int, ...]]) -> TypeChange:
    """Compare (type name, mods) pairs as pg_type.typname + decoded typmods."""
    old_name, old_mods = old
    new_name, new_mods = new
    if old_name == new_name and old_mods == new_mods:
        return TypeChange.SAME
    if old_name in _TEXTY and new_name in _TEXTY:
        old_len = old_mods[0] if old_name == "varchar" and old_mods else None
        new_len = new_mods[0] if new_name == "varchar" and new_mods else None
        if new_len is None:
            return TypeChange.NO_REWRITE
        if old_len is not None and new_len >= old_len:
            return TypeChange.NO_REWRITE
        return TypeChange.NARROWING
    if old_name == "numeric" and new_name == "numeric":
        if not new_mods:
            return TypeChange.NO_REWRITE
        if not old_mods:
            return TypeChange.NARROWING
        old_p, old_s = (*old_mods, 0)[:2]
        new_p, new_s = (*new_mods, 0)[:2]
        if new_s == old_s and new_p >= old_p:
            return TypeChange.NO_REWRITE
        if new_s < old_s or (new_p - new_s) < (old_p - old_s):
            return TypeChange.NARROWING
        return TypeChange.REWRITE
    if old_name in _INT_WIDTH and new_name in _INT_WIDTH:
        return TypeChange.REWRITE if _INT_WIDTH[new_name] > _INT_WIDTH[old_name] else TypeChange.NARROWING
    if old_name in _FLOAT_WIDTH and new_name in _FLOAT_WIDTH:
        return TypeChange.REWRITE if _FLOAT_WIDTH[new_name] > _FLOAT_WIDTH[old_name] else TypeChange.NARROWING
    if old_name in ("numeric", "float4", "float8") and new_name in _INT_WIDTH:
        return TypeChange.NARROWING
    if old_name in ("timestamp", "timestamptz") and new_name == "date":
        return TypeChange.NARROWING
    if old_name in _TEXTY and new_name == "bpchar" and new_mods:
        return TypeChange.NARROWING
    if old_name == "cidr" and new_name == "inet":
        return TypeChange.NO_REWRITE
    return TypeChange.REWRITE


#: Target types where a change *from an unknown type* is often a no-rewrite widening.
MAYBE_CHEAP_TARGETS = frozenset({"varchar", "text", "numeric", "inet"})

_ALIASES = {
    "integer": "int4", "int": "int4", "bigint": "int8", "smallint": "int2", "real": "float4",
    "double": "float8", "character varying": "varchar", "bool": "bool", "boolean": "bool",
    "decimal": "numeric", "timestamp with time zone": "timestamptz", "character": "bpchar",
    "char": "bpchar",
}


def canonical(name: str) -> str:
    return _ALIASES.get(name.lower(), name.lower())
