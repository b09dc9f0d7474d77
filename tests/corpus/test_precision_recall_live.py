"""A live slice of the corpus: the same patterns against a real database, tables of 30,000 rows and of 5.

With live context the size decides: on the bigger tables the lock and rewrite risks stay (medium or
above), on the 5-row tables they are instant (issue 15, false alarm 5) while what fails or loses
data regardless of size stays: a required column on a table with rows, a dropped column's values, a
unique index over duplicated values. Scored like the static corpus (:mod:`tests.corpus.test_precision_recall`).
"""

from __future__ import annotations

import pytest

from pgwarden.records import Severity
from pgwarden.risk.engine import review
from tests.corpus.generate import RENDER
from tests.corpus.patterns import PATTERNS
from tests.corpus.test_precision_recall import reported

#: Patterns whose static expectations are lock or rewrite risks: they hold on the bigger tables only.
BY_SIZE = {"index-existing-table", "fk-validating", "int-to-bigint", "check-validating", "set-not-null",
           "m1-backfill-where-after-alter", "unique-constraint", "unique-index-existing-table"}
#: What holds at any size, on top: the migration fails, or data goes.
ANY_SIZE = {"add-required-column": {"not-null-column-without-default"}, "drop-column": {"drop-column"},
            "unique-index-existing-table": {"unique-on-duplicate-values"},
            "unique-constraint": {"unique-on-duplicate-values"}}

#: Measured 2026-12-02 (raise when the review improves).
PRECISION_FLOOR = 1.0
RECALL_FLOOR = 1.0


def seed(db, rows: int) -> None:
    db.execute("create table users (id bigint primary key, note varchar(200), created_at timestamptz default now())")
    db.execute("create table orders (id bigint primary key, note varchar(200), users_id integer, "
               "created_at timestamptz default now())")
    for table in ("users", "orders"):
        # Duplicated notes: a unique index over them fails.
        db.execute(f"insert into {table} (id, note) select g, 'n' || (g % 3) from generate_series(1, {rows}) g")
        db.execute(f"analyze {table}")


@pytest.mark.parametrize("rows", [30_000, 5])
def test_live_slice_precision_and_recall(db, rows: int) -> None:
    seed(db, rows)
    true_alarms = false_alarms = found = missed = 0
    problems = []
    with db.connect(autocommit=True) as conn:
        for n, pattern in enumerate(p for p in PATTERNS if p.name in BY_SIZE | set(ANY_SIZE)):
            statements = [s.format(t="orders", u="users", c=f"live_{n}", n=n) for s in pattern.statements]
            migration = RENDER["sql"](pattern.name, statements, n)
            expected = (set(pattern.expect) if rows > 1_000 else set()) | ANY_SIZE.get(pattern.name, set())
            hits: set[str] = set()
            for f in review([migration], conn=conn):
                if f.severity < Severity.MEDIUM:
                    continue
                hit = reported(f) & expected
                hits |= hit
                if hit:
                    true_alarms += 1
                else:
                    false_alarms += 1
                    problems.append(f"{pattern.name}: false {f.rule} ({f.severity.value})")
            found += len(hits)
            missed += len(expected - hits)
            problems += [f"{pattern.name}: missed {m}" for m in sorted(expected - hits)]
    precision = true_alarms / (true_alarms + false_alarms) if true_alarms + false_alarms else 1.0
    recall = found / (found + missed) if found + missed else 1.0
    print(f"\nlive, {rows} rows: precision {precision:.1%} ({true_alarms} true, {false_alarms} false), "
          f"recall {recall:.1%} ({found} found, {missed} missed)\n  " + "\n  ".join(problems))
    assert precision >= PRECISION_FLOOR and recall >= RECALL_FLOOR, problems
