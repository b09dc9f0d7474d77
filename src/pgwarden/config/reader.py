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
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pgwarden.durations import DURATION_HELP, format_duration, parse_duration
from pgwarden.errors import ConfigError

if TYPE_CHECKING:
    # PyYAML loads where a file is read (its reader alone was 0.02 s, a plan without pgwarden.yml reads none).
    import yaml
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
Reader = Callable[["yaml.Node", str, ReadContext], Any]


# --- readers of one value ---------------------------------------------------------------------

#: The tags plain YAML resolves by itself (and that an explicit ``!!str``/``!!int``... may name).
#: Anything else (``!!python/object``, ``!!binary``, ``!!set``, an application's ``!Ref``) has no
#: meaning in pgwarden.yml: refused, never constructed.
_PLAIN_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)
_TEXT_TAGS = frozenset("tag:yaml.org,2002:" + name for name in ("int", "float", "timestamp"))
#: PostgreSQL's lock_timeout and statement_timeout are an int of milliseconds.
PG_TIMEOUT_MAX_S = (2**31 - 1) / 1000
#: Any other duration: a year is more than any wait, age or objective pgwarden measures.
DURATION_MAX_S = 366 * 86400.0


def _kind(node: yaml.Node) -> str:
    import yaml

    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def check_tag(node: yaml.Node, key: str, ctx: ReadContext) -> None:
    """Refuse a value carrying a tag plain YAML does not resolve (``!!python/...``, ``!!binary``)."""
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ctx.error(node, key, "a plain YAML value (no tags)", got=f"the tag {tag}")


def _scalar(node: yaml.Node, key: str, ctx: ReadContext, expected: str) -> Any:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, key, expected, got=_kind(node))
    check_tag(node, key, ctx)
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except Exception:  # noqa: BLE001 - PyYAML's constructors fail in many ways on odd input
        # a timestamp that cannot be built (2024-02-30), an explicit !!bool maybe, !!timestamp foo
        raise ctx.error(node, key, expected, got=repr(node.value)) from None


def read_str(node: yaml.Node, key: str, ctx: ReadContext) -> str:
    """Text. An unquoted number or date is taken as written (``012`` stays ``012``); true/false and
    yes/no are refused rather than guessed (quote them)."""
    value = _scalar(node, key, ctx, "a string")
    if value is None:
        raise ctx.error(node, key, "a string", got="nothing")
    if isinstance(value, bool):
        raise ctx.error(node, key, "a string (put it in quotes)", got=f"the boolean {node.value}")
    text = node.value if node.tag in _TEXT_TAGS else value
    if not isinstance(text, str):
        raise ctx.error(node, key, "a string", got=repr(value))
    if "\x00" in text:
        raise ctx.error(node, key, "a string without NUL characters", got=f"a NUL at character {text.index(chr(0))}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ctx.error(node, key, "valid Unicode text", got=f"a lone surrogate at character {exc.start}") from None
    return text


def int_between(low: int, high: int) -> Reader:
    """A whole number in ``[low, high]``."""
    expected = f"a whole number from {low} to {high}"

    def read(node: yaml.Node, key: str, ctx: ReadContext) -> int:
        value = _scalar(node, key, ctx, expected)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ctx.error(node, key, expected, got=_shown(node, value))
        return value

    return read


#: A count with no natural limit of its own (a million of anything is a mistake).
read_int = int_between(0, 1_000_000)


def float_between(low: float, high: float, *, what: str = "a number") -> Reader:
    """A finite number in ``[low, high]`` (never .nan or .inf)."""
    expected = f"{what} from {low:g} to {high:g}"

    def read(node: yaml.Node, key: str, ctx: ReadContext) -> float:
        value = _scalar(node, key, ctx, expected)
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not low <= value <= high):
            raise ctx.error(node, key, expected, got=_shown(node, value))
        return float(value)

    return read


read_float = float_between(0, 1e6)


def read_bool(node: yaml.Node, key: str, ctx: ReadContext) -> bool:
    value = _scalar(node, key, ctx, "true or false")
    if not isinstance(value, bool):
        raise ctx.error(node, key, "true or false", got=_shown(node, value))
    return value


def duration_between(low_s: float, high_s: float, *, bounds: str | None = None) -> Reader:
    """A duration (see :mod:`pgwarden.durations`) from ``low_s`` to ``high_s`` seconds."""
    expected = f"{DURATION_HELP}, {bounds or 'up to ' + format_duration(high_s)}"

    def read(node: yaml.Node, key: str, ctx: ReadContext) -> float:
        value = _scalar(node, key, ctx, DURATION_HELP)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ctx.error(node, key, DURATION_HELP, got=_shown(node, value))
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ctx.error(node, key, DURATION_HELP, got=_shown(node, value)) from None
        if not low_s <= seconds <= high_s:
            raise ctx.error(node, key, expected, got=_shown(node, value))
        return seconds

    return read


#: Waits, ages and objectives.
read_duration = duration_between(0.0, DURATION_MAX_S, bounds="up to 366 days")
#: A PostgreSQL lock_timeout / statement_timeout: at least 1ms (0 turns the limit off) and at
#: most PostgreSQL's int of milliseconds (about 24 days).
read_pg_timeout = duration_between(
    0.001, PG_TIMEOUT_MAX_S,
    bounds="from 1ms to 2147483647ms (24d 20h, PostgreSQL's limit; 0 would turn the timeout off)",
)


def _shown(node: yaml.Node, value: Any) -> str:
    """How a refused value is named: as written in the file, with what YAML made of it."""
    import yaml

    written = repr(node.value) if isinstance(node, yaml.ScalarNode) else _kind(node)
    if isinstance(value, bool):
        return f"the boolean {node.value}"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"the date {node.value}"
    if value is None:
        return "nothing"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{node.value} (not a finite number)"
    return written


def one_of(*choices: str) -> Reader:
    def read(node: yaml.Node, key: str, ctx: ReadContext) -> str:
        value = read_str(node, key, ctx)
        if value not in choices:
            raise ctx.error(node, key, "one of " + ", ".join(choices), got=repr(value))
        return value

    return read


def list_of(item: Reader) -> Reader:
    def read(node: yaml.Node, key: str, ctx: ReadContext) -> list[Any]:
        import yaml

        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise ctx.error(node, key, "a list", got=repr(node.value) if isinstance(node, yaml.ScalarNode)
                            else _kind(node))
        check_tag(node, key, ctx)
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
    import yaml

    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return cls()
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(node, key or "(top level)", "a mapping of keys to values",
                        got=_kind(node) if not isinstance(node, yaml.ScalarNode) else f"the value {node.value!r}")
    check_tag(node, key or "(top level)", ctx)
    # Fields without a reader (Settings.source, .base_dir) are set by the loader, not from YAML.
    fields = {
        f.name: f for f in dataclasses.fields(cls)
        if f.metadata.get("reader") is not None
    }
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ctx.error(key_node, f"{key or '(top level)'}", "keys that are plain names",
                            got=f"{_kind(key_node)} as a key")
        name = key_node.value
        shown = name if name.isprintable() else repr(name)  # a NUL or escape in a key stays visible
        dotted = f"{key}.{shown}" if key else shown
        if name not in fields:
            import difflib

            close = difflib.get_close_matches(str(name), list(fields), n=1)
            if close:
                raise ctx.error(key_node, dotted, f"a known key (did you mean {close[0]!r}?)", got="an unknown key")
            allowed = ", ".join(sorted(fields))
            raise ctx.error(key_node, dotted, f"one of the known keys ({allowed})", got="an unknown key")
        check_tag(key_node, dotted, ctx)
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
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        what = f"{exc.context}, {exc.problem}" if exc.context else exc.problem
        raise ConfigError(f"{display}{line}: not valid YAML: {what}") from None
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        raise ConfigError(
            f"{display}:{at}: not valid YAML: expected printable text, got the control character U+{code:04X} "
            f"at character {exc.position}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{display}: lists or mappings nested too deeply: expected a few levels, as in the docs"
        ) from None
    if node is None:
        return cls()
    return read_dataclass(cls, node, "", ReadContext(display))
