"""Row counts against a backup manifest: one policy, two occasions.

- **After a restore** (``restore``, ``drill``, ``verify --restored-from``) nothing has run since
  the rows came back, so every exactly counted table holds exactly the backup's rows: one row
  fewer (or more) fails. Tables the backup only estimated (the planner's ``reltuples``) may
  drift within ``verify.row_count_tolerance``; beyond it is a warning, since estimates drift
  without anything being wrong.
- **After a deploy** (``verify``) live traffic has run since the backup: a table may hold fewer
  rows than the backup within ``verify.row_count_tolerance`` (beyond it fails) and any number
  more (reported as growth, not failed).

Both used to be written out separately, and ``verify --restored-from`` applied the deploy
tolerance: it passed a restore that had lost rows. :class:`RowCountPolicy` is the one place
that decides; the two functions below only gather the counts each occasion has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgwarden.manifest import BackupManifest
from pgwarden.names import BOOKKEEPING_TABLES, QualifiedName
from pgwarden.pg.tables import count_rows, counted_tables, label, plan_counts
from pgwarden.records import Check

#: The name of the check, after a restore and after a deploy alike.
ROW_COUNTS = "row counts match the backup"


@dataclass
class RowCount:
    """One table's rows in the backup (``before``) and now (``after``; None: the table is gone)."""

    table: str
    before: int
    after: int | None
    #: ``before`` is an exact count (else the planner's estimate at backup time)
    exact: bool
    #: how messages name the table (a hash-partitioned table says which partitions it sums)
    label: str = ""
    partitions: list[str] = field(default_factory=list)

    @property
    def change(self) -> float:
        if self.after is None:
            return -1.0
        return (self.after - self.before) / max(self.before, 1)

    @property
    def named(self) -> str:
        return self.label or self.table

    def to_json(self) -> dict[str, Any]:
        """verify's ``row_counts`` entry."""
        return {"table": self.table, "before": self.before, "after": self.after, "exact": self.exact,
                "change": round(self.change, 4)}

    def restore_json(self) -> dict[str, Any]:
        """restore's and drill's ``rows`` entry."""
        data: dict[str, Any] = {"expected": self.before, "actual": self.after, "exact": self.exact}
        if self.partitions:
            data["partitions"] = self.partitions
        return data


@dataclass
class RowCountJudgement:
    #: fail the check
    problems: list[str] = field(default_factory=list)
    #: after a restore: estimates further off than the tolerance (a warning of its own)
    drifted: list[str] = field(default_factory=list)
    #: after a deploy: tables that grew beyond the tolerance (live traffic; reported, not failed)
    grew: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RowCountPolicy:
    """How far a table's rows now may be from the backup's count."""

    tolerance: float
    after_restore: bool

    @classmethod
    def for_restore(cls, tolerance: float) -> RowCountPolicy:
        return cls(tolerance, after_restore=True)

    @classmethod
    def for_deploy(cls, tolerance: float) -> RowCountPolicy:
        return cls(tolerance, after_restore=False)

    def allowance(self, before: int, exact: bool) -> int:
        """Rows a count may differ by: the tolerance rounded up; an estimate always at least one."""
        # Rounded first: 0.07 * 100 is 7.000000000000001 in binary floating point, not a reason for 8.
        allowed = math.ceil(round(self.tolerance * before, 9))
        return allowed if exact else max(1, allowed)

    def agreement(self, backup_id: str) -> str:
        """How the check's detail says the counts agree (``12 table(s) ...``)."""
        if self.after_restore:
            return f"hold the rows of backup {backup_id}"
        return f"within {self.tolerance:.0%} of backup {backup_id}"

    def judge(self, counts: list[RowCount]) -> RowCountJudgement:
        out = RowCountJudgement()
        for c in counts:
            if c.after is None:
                out.problems.append(f"{c.named} is missing (the backup had {c.before} rows)")
                continue
            allowed = self.allowance(c.before, c.exact)
            if self.after_restore:
                if c.exact and c.after != c.before:
                    out.problems.append(f"{c.named}: {c.after} rows, backup had {c.before}")
                elif not c.exact and abs(c.after - c.before) > allowed:
                    out.drifted.append(f"{c.named}: {c.after} rows, estimate was {c.before}")
            elif c.before - c.after > allowed:
                out.problems.append(f"{c.named}: {c.before} -> {c.after} rows ({c.change:+.1%})")
            elif c.after - c.before > allowed:
                out.grew.append(f"{c.named}: {c.before} -> {c.after} ({c.change:+.1%})")
        return out


def _drift_check(judged: RowCountJudgement) -> list[Check]:
    if not judged.drifted:
        return []
    return [Check("estimated row counts", ok=False, warning=True, detail="; ".join(judged.drifted))]


def compare_rows(
    conn: psycopg.Connection[Any], manifest: BackupManifest, policy: RowCountPolicy, *,
    loaded: dict[str, int] | None = None, kept: frozenset[str] = frozenset(),
) -> tuple[list[Check], list[RowCount]]:
    """Row counts right after ``restore``/``drill`` loaded ``manifest`` into the database of ``conn``.

    ``loaded`` holds the rows the server reported for each table's COPY during the restore (its
    ``COPY n`` command tags): exact, and free, where ``count(*)`` would read every big table again
    (about 1.6 s for 2M rows). The tables restored empty of rows start empty, so those tags are the
    rows they hold. A table without a tag is counted with ``count(*)``. The partitions of a
    hash-partitioned table are compared as one (see :mod:`pgwarden.pg.tables`). ``kept`` names the
    tables an in-place restore left as they were (pgwarden's audit table): not compared.
    """
    tags = loaded or {}
    tables = {t: n for t, n in manifest.tables.items() if t not in kept}
    plan = plan_counts(conn, tables, set(manifest.exact_tables) - kept)
    counts: list[RowCount] = []
    for name, expected in sorted(plan.expected.items()):
        members = plan.partitions.get(name, [name])
        if name in tags:  # loaded through the partitioned table, or a plain table
            actual: int | None = tags[name]
        elif all(m in tags for m in members):
            actual = sum(tags[m] for m in members)
        else:
            actual = count_rows(conn, name)
        counts.append(RowCount(name, expected, actual, name in plan.exact, label(name, plan),
                               plan.partitions.get(name, [])))
    # The tables the backup counts: plain ones, not an extension's; a partitioned table holds no
    # rows of its own.
    extra = sorted(counted_tables(conn) - set(manifest.tables) - kept)
    judged = policy.judge(counts)
    tagged = len(set(tables) & set(tags))
    checks = [Check(
        ROW_COUNTS, ok=not judged.problems,
        detail="; ".join(judged.problems) if judged.problems else
        f"{len(tables)} tables ({len(set(manifest.exact_tables) - kept)} exact counts) match"
        + (f"; {tagged} counted by the server while loading them (COPY results)" if tagged else ""),
    ), *_drift_check(judged)]
    if extra:
        checks.append(Check(
            "tables not in the backup", ok=False, warning=True,
            detail="left as they were (created after the backup?): " + ", ".join(extra[:20]),
        ))
    return checks, counts


def check_row_counts(
    conn: psycopg.Connection[Any], manifest: BackupManifest, touched: set[str] | None, policy: RowCountPolicy,
    *, history_table: str | None = None,
) -> tuple[list[Check], list[RowCount]]:
    """``verify``'s comparison: every table of ``manifest`` but the bookkeeping ones and ``touched``.

    ``history_table`` is the project's tool's history table when it has another name than the
    default one (Laravel's ``'migrations' => 'schema_migrations'``): bookkeeping as well.

    ``touched`` holds the :attr:`~pgwarden.names.QualifiedName.text` of the tables the deployed
    migrations change (those are not compared), or None when their SQL could not be read (then
    every table is compared and the check is only a warning). Tables the backup only estimated
    are compared with the planner's estimate now.
    """
    tables = {str(t): int(n) for t, n in manifest.tables.items()}
    # A manifest from before exact counts were recorded holds exact counts only.
    plan = plan_counts(conn, tables, set(manifest.exact_tables) or set(tables))
    counts: list[RowCount] = []
    skipped: list[str] = []
    for table, before in sorted(plan.expected.items()):
        members = plan.partitions.get(table, [table])
        if QualifiedName.parse(table).name in BOOKKEEPING_TABLES or QualifiedName.parse(table).name == history_table:
            continue
        if touched is not None and any(QualifiedName.parse(n).text in touched for n in [table, *members]):
            skipped.append(table)
            continue
        exact = table in plan.exact
        if exact or table not in plan.partitions:
            after = count_rows(conn, table, exact)
        else:  # the planner's estimates of the partitions (a partitioned table has none of its own)
            estimates = [count_rows(conn, m, False) for m in members]
            after = None if None in estimates else sum(e for e in estimates if e is not None)
        counts.append(RowCount(table, before, after, exact))
    judged = policy.judge(counts)
    # Estimates (reltuples) are only a warning: they drift without anything being wrong.
    only_estimates = bool(counts) and not any(c.exact for c in counts)
    detail = "; ".join(judged.problems) if judged.problems else (
        f"{len(counts)} table(s) {policy.agreement(manifest.id)}"
        + (f"; grew: {'; '.join(judged.grew)}" if judged.grew else "")
        + (f"; not compared (changed by the migrations): {', '.join(skipped)}" if skipped else "")
        + ("" if touched is not None else "; the migrations' tables are unknown, so every table was compared")
    )
    warning = only_estimates or touched is None
    return [Check(ROW_COUNTS, not judged.problems, detail, warning=warning), *_drift_check(judged)], counts
