"""Read a YAML document into dataclasses, with errors that name the file, line, key and value.

The schema (:mod:`pgwarden.config`) declares each field with :func:`opt` or :func:`sub`: the
field's metadata holds the reader of its YAML value and a one-line doc. This module knows no
key of pgwarden.yml: it walks the YAML *node* tree (not the plain data, which has lost its line
numbers), reads each value with its field's reader, refuses unknown and duplicate keys (with
the closest known key when there is one), and calls a dataclass's ``_validate(node, key, ctx)``
when it has one, for checks across fields.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from pgwarden.durations import DURATION_HELP, parse_duration
from pgwarden.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


@dataclass
class ReadContext:
    """What every reader needs besides the node: the file name for its messages."""

    file: str

    def error(self, node: yaml.Node | None, key: str, expected: str, got: str | None = None) -> ConfigError:
        where = f"{self.file}"
        if node is not None:
            where += f":{node.start_mark.line + 1}"
        message = f"{where}: {key}: expected {expected}"
        if got is not None:
            message += f", got {got}"
        return ConfigError(message)


#: How one YAML scalar/sequence/mapping becomes a Python value: (node, dotted key, context).
Reader = Callable[[yaml.Node, str, ReadContext], Any]


# --- readers of one value ---------------------------------------------------------------------


def _scalar(node: yaml.Node, key: str, ctx: ReadContext, expected: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, key, expected, got="a " + ("list" if isinstance(node, yaml.SequenceNode) else "mapping"))
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def read_str(node: yaml.Node, key: str, ctx: ReadContext) -> str:
    value = _scalar(node, key, ctx, "a string")
    if value is None:
        raise ctx.error(node, key, "a string", got="nothing")
    if isinstance(value, (dict, list)):
        raise ctx.error(node, key, "a string")
    return str(value)


def read_int(node: yaml.Node, key: str, ctx: ReadContext) -> int:
    value = _scalar(node, key, ctx, "a whole number")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.error(node, key, "a whole number >= 0", got=repr(value))
    return value


def read_float(node: yaml.Node, key: str, ctx: ReadContext) -> float:
    value = _scalar(node, key, ctx, "a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ctx.error(node, key, "a number >= 0", got=repr(value))
    return float(value)


def read_bool(node: yaml.Node, key: str, ctx: ReadContext) -> bool:
    value = _scalar(node, key, ctx, "true or false")
    if not isinstance(value, bool):
        raise ctx.error(node, key, "true or false", got=repr(value))
    return value


def read_duration(node: yaml.Node, key: str, ctx: ReadContext) -> float:
    value = _scalar(node, key, ctx, DURATION_HELP)
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        raise ctx.error(node, key, DURATION_HELP, got=repr(value)) from None


def one_of(*choices: str) -> Reader:
    def read(node: yaml.Node, key: str, ctx: ReadContext) -> str:
        value = read_str(node, key, ctx)
        if value not in choices:
            raise ctx.error(node, key, "one of " + ", ".join(choices), got=repr(value))
        return value

    return read


def list_of(item: Reader) -> Reader:
    def read(node: yaml.Node, key: str, ctx: ReadContext) -> list[Any]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise ctx.error(node, key, "a list")
        return [item(child, f"{key}[{i}]", ctx) for i, child in enumerate(node.value)]

    return read


def section(cls: type) -> Reader:
    def read(node: yaml.Node, key: str, ctx: ReadContext) -> Any:
        return read_dataclass(cls, node, key, ctx)

    return read


# --- declaring the fields of a schema dataclass ---------------------------------------------


def opt(reader: Reader, default: Any = None, *, doc: str = "") -> Any:
    """A field read by ``reader``; ``default`` when absent."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"reader": reader, "doc": doc})
    return field(default=default, metadata={"reader": reader, "doc": doc})


def sub(cls: type, *, doc: str = "") -> Any:
    """A nested section, all defaults when absent."""
    return field(default_factory=cls, metadata={"reader": section(cls), "doc": doc})


# --- reading a mapping, and a whole document -------------------------------------------------


def read_dataclass(cls: type[T], node: yaml.Node, key: str, ctx: ReadContext) -> T:
    """The mapping at ``node`` as a ``cls``: each key by its field's reader, absent keys default."""
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return cls()
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(node, key or "(top level)", "a mapping of keys to values")
    # Fields without a reader (Settings.source, .base_dir) are set by the loader, not from YAML.
    fields = {
        f.name: f for f in dataclasses.fields(cls)
        if f.metadata.get("reader") is not None
    }
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        name = key_node.value
        dotted = f"{key}.{name}" if key else name
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            if close:
                raise ctx.error(key_node, dotted, f"a known key (did you mean {close[0]!r}?)", got="an unknown key")
            allowed = ", ".join(sorted(fields))
            raise ctx.error(key_node, dotted, f"one of the known keys ({allowed})", got="an unknown key")
        if name in values:
            raise ctx.error(key_node, dotted, "each key once", got="a duplicate")
        values[name] = fields[name].metadata["reader"](value_node, dotted, ctx)
    instance = cls(**values)
    validate = getattr(instance, "_validate", None)
    if validate is not None:
        validate(node, key, ctx)
    return instance


def read_document(cls: type[T], text: str, display: str) -> T:
    """The YAML ``text`` (from the file ``display``) as a ``cls``; an empty document is all defaults."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{display}{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: not valid YAML: {exc}") from None
    if node is None:
        return cls()
    return read_dataclass(cls, node, "", ReadContext(display))
