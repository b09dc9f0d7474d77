"""The small records every step reads and writes.

Data flows one way: cli -> pipeline -> core -> edges, and these records are what crosses
the boundaries. They are plain dataclasses with a ``to_json`` that produces the documented
JSON contract (see DESIGN.md), so reporters never reach into internals.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgwarden.rehearsal import RehearsalReport  # loaded where a rehearsal is read (PlanReport.from_json)

#: How a long step tells the user what it is doing: one line of text at a time.
Progress = Callable[[str], None]


class Severity(str, enum.Enum):
    """Finding severities, ordered: info < low < medium < high < critical."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    # Compared tens of thousands of times in a large plan (merging, max, sorting): one dict lookup each.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] >= _RANK[other]

    def raised(self, steps: int = 1) -> Severity:
        return _SEVERITY_ORDER[min(len(_SEVERITY_ORDER) - 1, self.rank + steps)]

    def lowered(self, steps: int = 1) -> Severity:
        return _SEVERITY_ORDER[max(0, self.rank - steps)]


_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
_RANK = {severity: rank for rank, severity in enumerate(_SEVERITY_ORDER)}
SEVERITY_NAMES = [s.value for s in _SEVERITY_ORDER]


class Category(str, enum.Enum):
    """Every finding has exactly one category."""

    DATA_LOSS = "data-loss"
    TABLE_REWRITE = "table-rewrite"
    BLOCKING_LOCK = "blocking-lock"
    BACKWARD_INCOMPATIBLE = "backward-incompatible"
    TRANSACTION_SAFETY = "transaction-safety"
    WILL_FAIL = "will-fail"
    OTHER = "other"


class MigrationStatus(str, enum.Enum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    EDITED = "edited"  # applied, but the file changed since
    #: started and did not finish, and not atomic: it may be partly applied (see pgwarden resolve)
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Migration:
    """One migration as the project's tool sees it."""

    name: str
    path: str
    status: MigrationStatus = MigrationStatus.PENDING
    checksum: str | None = None
    #: The SQL this migration runs, when known (sql/prisma files; alembic/laravel render it).
    sql: str | None = None
    #: False when a failure half-way can leave part of it applied (``-- pgwarden:no-transaction``,
    #: Laravel's ``$withinTransaction = false``, Prisma's adapter engine): set by the tool adapter.
    atomic: bool = True

    def to_json(self) -> dict[str, Any]:
        """Name, path, status, and the SQL of a migration that is to run (pending or failed), when known."""
        document: dict[str, Any] = {"name": self.name, "path": self.path, "status": self.status.value}
        if self.sql is not None and self.status in (MigrationStatus.PENDING, MigrationStatus.FAILED):
            document["sql"] = self.sql
        return document

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Migration:
        """The inverse of :meth:`to_json` (the checksum is not in the document)."""
        sql = data.get("sql")
        return cls(name=str(data["name"]), path=str(data["path"]),
                   status=MigrationStatus(data.get("status", MigrationStatus.PENDING.value)),
                   sql=None if sql is None else str(sql))


@dataclass
class Finding:
    """One risk found in one statement of one migration."""

    rule: str
    category: Category
    severity: Severity
    message: str
    suggestion: str
    migration: str | None = None
    file: str | None = None
    line: int | None = None
    statement: str | None = None
    table: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    #: Why it is accepted, when a reasoned ``risk.ignore`` entry or inline directive waived it
    #: (it is then in :attr:`PlanReport.waived`, not in ``findings``).
    waived_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category._value_,  # the member's own attribute: .value is a Python descriptor
            "severity": self.severity._value_,
            "migration": self.migration,
            "file": self.file,
            "line": self.line,
            "statement": self.statement,
            "table": self.table,
            "message": self.message,
            "suggestion": self.suggestion,
            "context": self.context,
        }
        if self.waived_reason is not None:
            document["waived_reason"] = self.waived_reason
        return document

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """The inverse of :meth:`to_json`; the keys that may be null may also be missing."""
        line = data.get("line")
        return cls(
            rule=str(data["rule"]),
            category=Category(data["category"]),
            severity=Severity(data["severity"]),
            message=str(data["message"]),
            suggestion=str(data["suggestion"]),
            migration=_optional_text(data.get("migration")),
            file=_optional_text(data.get("file")),
            line=None if line is None else int(line),
            statement=_optional_text(data.get("statement")),
            table=_optional_text(data.get("table")),
            context=dict(data.get("context") or {}),
            waived_reason=_optional_text(data.get("waived_reason")),
        )


@dataclass
class Check:
    """One verification check and its outcome (verify, restore, drill)."""

    name: str
    ok: bool
    detail: str = ""
    #: A failed check with ``warning`` set does not fail the step.
    warning: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "warning": self.warning}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Check:
        return cls(name=str(data["name"]), ok=bool(data["ok"]), detail=str(data.get("detail") or ""),
                   warning=bool(data.get("warning", False)))


@dataclass
class StepResult:
    """What one pipeline step did: printed as text, or as the ``--format json`` document."""

    step: str
    ok: bool
    summary: str
    duration_s: float = 0.0
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "step": self.step,
            "ok": self.ok,
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
            "checks": [c.to_json() for c in self.checks],
            **self.details,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepResult:
        """The inverse of :meth:`to_json`: the keys it does not know go back into ``details``.

        A failure document (``{"ok": false, "exit_code": …, "error": {"kind", "message", "hint"}}``,
        what a step prints under ``--format json`` when it fails or refuses) reads as a failed
        result whose summary is the error's message; ``exit_code`` and ``error`` stay in ``details``.
        """
        error = data.get("error")
        summary = data.get("summary")
        if summary is None and isinstance(error, Mapping):
            summary = error.get("message")
        known = {"version", "step", "ok", "summary", "duration_s", "checks"}
        return cls(
            step=str(data["step"]),
            ok=bool(data["ok"]),
            summary=str(summary or ""),
            duration_s=float(data.get("duration_s") or 0.0),
            checks=[Check.from_json(c) for c in data.get("checks") or []],
            details={k: v for k, v in data.items() if k not in known},
        )


#: How ``plan`` knew what is pending (:attr:`PlanReport.basis`).
PLAN_BASES = ("live", "diff", "static")


@dataclass
class PlanReport:
    """The outcome of ``plan``: what is pending and what was found, judged against ``fail_on``."""

    migrations: list[Migration]
    findings: list[Finding]
    fail_on: str = "high"
    tool: str = "sql"
    #: ``user@host:port/db`` when live context was read, else None (a static plan).
    database: str | None = None
    notes: list[str] = field(default_factory=list)
    #: ``live``: pending read from the database's history; ``diff``: the migrations added or changed
    #: since ``base`` (``plan --base``), the others taken as applied; ``static``: everything listed is
    #: pending. Empty: derived from ``database`` (live when there is one, else static).
    basis: str = ""
    #: With basis ``diff``: the ref and the short SHA of the merge-base the diff starts from
    #: (``origin/main@1a2b3c4``); else None.
    base: str | None = None
    #: Findings a ``risk.ignore`` entry or inline directive waived with a reason (each has its
    #: ``waived_reason``). Not in ``findings``: they neither block nor count.
    waived: list[Finding] = field(default_factory=list)
    #: What the pending migrations did on a restored copy of production (``plan --rehearsal FILE``),
    #: judged against ``rehearsal_max_lock_s`` (its findings are in ``findings``); None without one.
    rehearsal: RehearsalReport | None = None
    rehearsal_max_lock_s: float | None = None

    def __post_init__(self) -> None:
        if not self.basis:
            self.basis = "live" if self.database is not None else "static"
        if self.basis not in PLAN_BASES:
            raise ValueError(f"basis: expected one of {', '.join(PLAN_BASES)}, got {self.basis!r}")

    @property
    def live(self) -> bool:
        return self.database is not None

    @property
    def max_severity(self) -> Severity | None:
        return highest_severity(self.findings)

    @property
    def blocked(self) -> bool:
        return is_blocked(self.findings, self.fail_on)

    @property
    def pending(self) -> list[Migration]:
        return [m for m in self.migrations if m.status in (MigrationStatus.PENDING, MigrationStatus.FAILED)]

    def counts(self) -> dict[str, int]:
        """Findings per severity, highest first, only severities that occur."""
        severities = [f.severity for f in self.findings]  # list.count: no enum .value per finding and severity
        result: dict[str, int] = {}
        for severity in reversed(_SEVERITY_ORDER):
            n = severities.count(severity)
            if n:
                result[severity.value] = n
        return result

    def blocking_findings(self) -> list[Finding]:
        if self.fail_on == "never":
            return []
        threshold = Severity(self.fail_on)
        return [f for f in self.findings if f.severity >= threshold]

    def basis_line(self) -> str:
        """One line saying what the review knew: live data, a diff against a base, or neither."""
        if self.basis == "live":
            return f"basis: live, pending read from the history in {self.database}"
        if self.basis == "diff":
            return (f"basis: diff, pending = migrations added or changed since {self.base}; earlier ones are "
                    "taken as applied (their tables exist, sizes unknown)")
        return "basis: static, no database and no --base: every migration listed is taken as pending"

    def to_json(self) -> dict[str, Any]:
        """Exactly the ``plan --format json`` document of DESIGN.md."""
        top = self.max_severity
        return {
            "version": 1,
            "tool": self.tool,
            "basis": self.basis,
            "base": self.base,
            "database": self.database,
            "migrations": [m.to_json() for m in self.migrations],
            "findings": [f.to_json() for f in self.findings],
            "waived": [f.to_json() for f in self.waived],
            "notes": list(self.notes),
            # The rehearsal's own document (``rehearse --format json``) and the threshold it was judged by.
            "rehearsal": None if self.rehearsal is None else {**self.rehearsal.to_json(),
                                                              "max_lock_s": self.rehearsal_max_lock_s},
            "summary": {
                "max_severity": top.value if top is not None else None,
                "blocked": self.blocked,
                "counts": self.counts(),
                "fail_on": self.fail_on,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanReport:
        """The inverse of :meth:`to_json`, as far as the document goes.

        ``summary.fail_on`` is the threshold the plan was judged by. A document written before it
        was there says only whether the plan was blocked; the threshold read back is then the one
        nearest the findings that gives the same verdict (their highest severity when blocked, one
        above it when not). A document written before ``tool``, ``database``, ``notes``, ``basis``,
        ``base`` and ``waived`` were in it reads back as a static review by the ``sql`` tool with
        nothing waived (or live, when it names a database).
        """
        findings = [Finding.from_json(f) for f in data.get("findings") or []]
        summary = data.get("summary")
        summary = summary if isinstance(summary, Mapping) else {}
        written = summary.get("fail_on")
        blocked = bool(summary.get("blocked"))
        top = max((f.severity for f in findings), default=None)
        if isinstance(written, str) and (written == "never" or written in SEVERITY_NAMES):
            fail_on = written
        elif top is None:
            fail_on = "high"
        elif blocked:
            fail_on = top.value
        else:
            fail_on = "never" if top is Severity.CRITICAL else top.raised().value
        basis = data.get("basis")
        rehearsal = data.get("rehearsal")
        if rehearsal is not None:
            from pgwarden.rehearsal import RehearsalReport
        max_lock = rehearsal.get("max_lock_s") if isinstance(rehearsal, Mapping) else None
        return cls(migrations=[Migration.from_json(m) for m in data.get("migrations") or []],
                   findings=findings, fail_on=fail_on, tool=str(data.get("tool") or "sql"),
                   database=_optional_text(data.get("database")),
                   notes=[str(n) for n in data.get("notes") or []],
                   basis=basis if isinstance(basis, str) and basis in PLAN_BASES else "",
                   base=_optional_text(data.get("base")),
                   waived=[Finding.from_json(f) for f in data.get("waived") or []],
                   rehearsal=None if rehearsal is None else RehearsalReport.from_json(rehearsal),
                   rehearsal_max_lock_s=float(max_lock) if isinstance(max_lock, (int, float)) else None)


def highest_severity(findings: Sequence[Finding]) -> Severity | None:
    """The highest severity among ``findings`` (None without any). Asked several times per report: each
    severity is looked for in the list, in C, instead of comparing thousands of findings by ``__gt__``."""
    severities = [f.severity for f in findings]
    return next((severity for severity in reversed(_SEVERITY_ORDER) if severity in severities), None)


def is_blocked(findings: Sequence[Finding], fail_on: str) -> bool:
    """True when a finding reaches ``fail_on`` (a severity name; ``never`` never blocks)."""
    if fail_on == "never":
        return False
    threshold = Severity(fail_on)  # first: a bad name is an error even without findings
    top = highest_severity(findings)
    return top is not None and _RANK[top] >= _RANK[threshold]


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
