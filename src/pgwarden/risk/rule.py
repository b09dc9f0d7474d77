"""What a rule is, what it receives and returns, and the shared judgement of "how big is this table".

A rule module is typed by :class:`Rule` (every rule: ``ID``, ``CATEGORY``, ``SUGGESTION``) or
:class:`StatementRule` (a rule run on each parsed statement: also ``NODES``, the statement node
types it looks at or ``None`` for all, and ``check(stmt, ctx) -> Iterable[Hit]``). A rule of
``ALTER TABLE`` may also name ``SUBCOMMANDS``, a frozenset of ``AlterTableType``: the engine then
runs it only on ALTER TABLE statements with one of them (it finds nothing in the others). A
:class:`Hit` is a statement rule's verdict; the engine turns it into a
:class:`~pgwarden.records.Finding` with the rule id, migration, file, line and statement filled
in, so rules stay about SQL only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from pgwarden.names import QualifiedName
from pgwarden.records import Category, Severity
from pgwarden.risk.context import FactsSource, TableFacts
from pgwarden.risk.state import SetState
from pgwarden.units import format_bytes

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: A table this large turns a lock or rewrite finding up one severity step.
BIG_ROWS = 1_000_000
BIG_BYTES = 1 * GIB
#: A table this small turns it down one step (it is done in well under a second).
SMALL_ROWS = 10_000
SMALL_BYTES = 10 * MIB
#: A table this tiny is judged like an empty one: at most low (the work is instant).
TINY_ROWS = 1_000
TINY_BYTES = 1 * MIB


class Rule(Protocol):
    """What every rule module provides (a module satisfies this Protocol by its globals).

    ``ID`` is the module name with dashes and the name of its page, docs/rules/<ID>.md. The
    module docstring's first line is ``<ID>: <what it finds>`` (SARIF uses it as the summary).
    Members are read-only properties so a module's narrower constant types still match.
    """

    @property
    def ID(self) -> str: ...

    @property
    def CATEGORY(self) -> Category: ...

    @property
    def SUGGESTION(self) -> str:
        """The safe alternative, in general terms (a finding may spell it out for its statement)."""
        ...


class StatementRule(Rule, Protocol):
    """A rule the engine runs on every parsed statement of the types in ``NODES``."""

    @property
    def NODES(self) -> tuple[type, ...] | None:
        """Statement node types the rule looks at; None for every statement."""
        ...

    def check(self, stmt: Statement, ctx: RuleContext) -> Iterable[Hit]: ...


@dataclass
class Statement:
    """One parsed statement of one migration, as rules see it."""

    node: Any
    text: str
    line: int
    migration: str
    file: str


@dataclass
class Hit:
    """A rule's verdict on one statement."""

    severity: Severity
    message: str
    suggestion: str
    table: QualifiedName | None = None
    context: dict[str, Any] = field(default_factory=dict)
    #: Overrides the rule's CATEGORY (e.g. "will fail" once live data proves it).
    category: Category | None = None


@dataclass
class RuleContext:
    state: SetState
    facts: FactsSource
    #: Tables some statement of the migration set drops (DROP TABLE), known before the rules run.
    dropped_tables: frozenset[QualifiedName] = frozenset()

    def is_new(self, table: QualifiedName | None) -> bool:
        """Created earlier in this migration set, or (with live context) not in the database yet."""
        if table is None or table.key in self.state.new_tables:  # SetState.is_new_table, inlined: asked per rule
            return True
        facts = self.facts.table(table)
        return facts is not None and not facts.exists

    def table(self, table: QualifiedName | None) -> TableFacts | None:
        if table is None:
            return None
        facts = self.facts.table(table)
        return facts if facts is not None and facts.exists else None

    def size_facts(self, table: QualifiedName | None, stmt: Statement | None = None) -> TableFacts | None:
        """What to weigh a lock/rewrite on ``table`` by: the live facts, else, when the migration
        itself proves the table empty at ``stmt`` (:meth:`SetState.empty_because`), facts saying so.

        Measured facts win: a table with rows makes the earlier ADD COLUMN ... NOT NULL fail
        (reported as will-fail), and once that is fixed the big table is what this statement meets.
        """
        facts = self.table(table)
        if facts is not None or table is None:
            return facts
        reason = self.state.empty_because(table, stmt.node if stmt is not None else None)
        return TableFacts.known_empty(table, reason) if reason is not None else None

    def once_per_migration(self, key: str) -> bool:
        """True the first time ``key`` is seen in the current migration."""
        reported = self.state.migration.reported
        if key in reported:
            return False
        reported.add(key)
        return True


@lru_cache(maxsize=1024)
def is_prisma_file(path: str) -> bool:
    """A Prisma ``<timestamp>_<name>/migration.sql`` (by its name: asked for every statement of a file)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1] == "migration.sql"


def duration_class(size_bytes: int) -> str:
    """A coarse duration for work proportional to table size (index build, rewrite, scan).

    Based on ~50-100 MB/s of sequential work on ordinary cloud disks: the point is the order
    of magnitude a release manager plans a window around, not a prediction.
    """
    if size_bytes < 1 * MIB:
        return "instant"
    if size_bytes < 500 * MIB:
        return "seconds"
    if size_bytes < 50 * GIB:
        return "minutes"
    return "hours"


_DURATION_PHRASE = {"instant": "a moment", "seconds": "seconds", "minutes": "minutes", "hours": "hours"}


def size_phrase(facts: TableFacts) -> str:
    if facts.empty:
        return facts.empty_because or f"{facts.table} is empty"
    rows = f"about {facts.rows:,} rows" if facts.rows is not None else "rows (count unknown)"
    return f"{facts.table} has {rows} ({format_bytes(facts.bytes)})"


def sized(base: Severity, facts: TableFacts | None) -> Severity:
    """Scale a lock/rewrite severity by the table's real size."""
    if facts is None:
        return base
    if facts.empty or is_tiny(facts):
        # At most low, and never above what a small table gets (a low base goes to info).
        return min(base.lowered(), Severity.LOW)
    if (facts.rows or 0) >= BIG_ROWS or facts.bytes >= BIG_BYTES:
        return base.raised()
    if facts.rows is not None and facts.rows < SMALL_ROWS and facts.bytes < SMALL_BYTES:
        return base.lowered()
    return base


def is_tiny(facts: TableFacts) -> bool:
    """A few rows in under 1 MiB (indexes and TOAST included): any work on it is instant. A table
    never analyzed has no row estimate; its size on disk alone then bounds the work."""
    return not facts.empty and (facts.rows is None or facts.rows <= TINY_ROWS) and facts.bytes < TINY_BYTES


def size_hit(base: Severity, facts: TableFacts | None, table: QualifiedName | None, message: str,
             suggestion: str, *, work: str = "the lock is held") -> Hit:
    """A lock/rewrite Hit whose severity, message and context follow the table's size."""
    if facts is None:
        return Hit(base, message, suggestion, table=table)
    duration = duration_class(facts.bytes)
    context = {**facts.context, "duration": duration}
    if facts.empty_because is not None:
        return Hit(sized(base, facts), f"{message} ({facts.empty_because}, so this is instant)", suggestion,
                   table=table, context={**facts.context, "duration": "instant"})
    if facts.empty:
        text = f"{message} ({facts.table} is empty, so this is instant)"
    else:
        text = f"{message} ({size_phrase(facts)}: {work} for {_DURATION_PHRASE[duration]})"
    return Hit(sized(base, facts), text, suggestion, table=table, context=context)

