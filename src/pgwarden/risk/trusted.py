"""Let pglast's C parser build its AST without pglast re-checking every attribute in Python.

``pglast.ast.Node.__setattr__`` type-checks and coerces each attribute assigned to a node. It
is written in Python and runs for every attribute of every node the parser builds: 445,000
calls, 80% of a static review, for 1,000 generated migrations. ``pglast.parser.parse_sql``
(Cython, generated from PostgreSQL's struct definitions) already converts every field to the
exact type the check wants (enums, ``bool``, ``chr``, tuples, nodes), so while it runs the
check can be the plain ``object.__setattr__``: the same trees, 5x faster.

Audited for pglast 8 (``ast.pyx``, 1,259 generated fields): the one value it hands over
unconverted is ``A_Const``'s boolean, ``Boolean(<C int>)``, which the check turns into a
``bool``; ``Boolean`` therefore keeps its check. Other pglast versions, or a node class with
its own ``__setattr__``, get the ordinary checked path: slower, never different.
``bench/plan_speed.py`` compares both paths on its generated files.

The builder also makes each enum field as ``getattr(enums, 'AlterTableType')(<C int>)``, where
``enums`` is a global of ``pglast.parser``: ``Enum(value)`` runs two Python frames to find the member
in ``_value2member_map_`` (a fifth of the parse). Inside the block that global is
:class:`_MemberLookup`, whose attributes are those maps' C ``__getitem__``: the same member objects
(a value a map lacks goes to the enum class itself), and ``pglast.enums``, which pgwarden's own code
uses, is untouched.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pglast
from pglast import ast, parser

#: pglast major versions whose Cython node builder was audited (see the module docstring).
AUDITED_MAJOR_VERSIONS = ("8",)
#: Node classes pglast builds from values the check still has to convert.
_KEEP_CHECKED = (ast.Boolean,)

_CHECKED_SETATTR = ast.Node.__dict__.get("__setattr__")
ENABLED = (
    str(pglast.__version__).lstrip("v").split(".")[0] in AUDITED_MAJOR_VERSIONS
    and _CHECKED_SETATTR is not None
    and getattr(parser, "enums", None) is pglast.enums
    and not any(
        isinstance(cls, type) and issubclass(cls, ast.Node) and cls is not ast.Node and "__setattr__" in vars(cls)
        for cls in vars(ast).values()
    )
)


class _Members(dict[Any, Any]):
    """An enum's members by value; a value not among them is handed to the enum (its error, or its
    ``_missing_``), exactly as ``Enum(value)`` would."""

    __slots__ = ("enum",)

    def __init__(self, enum_class: type[enum.Enum]) -> None:
        super().__init__(enum_class._value2member_map_)
        self.enum = enum_class

    def __missing__(self, value: Any) -> Any:
        return self.enum(value)


class _MemberLookup:
    """``pglast.enums`` as ``pglast.parser`` uses it while building nodes: ``getattr(enums, Name)(value)``
    is a dict lookup in C. Each name is looked up once, on first use."""

    def __getattr__(self, name: str) -> Any:
        real = getattr(pglast.enums, name)
        fast = _Members(real).__getitem__ if isinstance(real, type) and issubclass(real, enum.Enum) else real
        setattr(self, name, fast)  # two threads may both build it: equal lookups, either one is kept
        return fast


_MEMBER_LOOKUP = _MemberLookup()
_lock = threading.RLock()
_depth = 0


@contextmanager
def trusted_nodes() -> Iterator[None]:
    """Inside this block pglast builds nodes without re-checking them (reentrant; one thread at a time).

    Swapping the method costs about 70 us (CPython drops the type caches of all ~300 node
    classes), so a caller parsing many files opens one block around all of them, and keeps
    its own code out of it. The lock stops a second parsing thread from restoring the check
    under the first; node classes are global, so another thread assigning node attributes by
    hand meanwhile skips the check too (pgwarden does not do that).
    """
    global _depth
    if not ENABLED:
        yield
        return
    with _lock:
        if _depth == 0:
            type.__setattr__(ast.Node, "__setattr__", object.__setattr__)
            for cls in _KEEP_CHECKED:
                type.__setattr__(cls, "__setattr__", _CHECKED_SETATTR)
            parser.enums = _MEMBER_LOOKUP  # type: ignore[attr-defined]
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
            if _depth == 0:
                parser.enums = pglast.enums  # type: ignore[attr-defined]  # what ENABLED found there
                for cls in _KEEP_CHECKED:
                    type.__delattr__(cls, "__setattr__")
                type.__setattr__(ast.Node, "__setattr__", _CHECKED_SETATTR)


def tree_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two parse results differ (value or type), or None when they are identical.

    The proof that :func:`trusted_nodes` changes nothing: tests and ``bench/plan_speed.py``
    compare checked and trusted parses of the same SQL with it.
    """
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, ast.Node):
        for name in a.__slots__:  # type: ignore[attr-defined]
            diff = tree_difference(getattr(a, name), getattr(b, name), f"{where}.{name}")
            if diff:
                return diff
        return None
    if isinstance(a, tuple):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = tree_difference(x, y, f"{where}[{index}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r} vs {b!r}"
