"""The pre-flight: before migrating, report (and wait for) sessions the migrations would queue behind.

The tables come from the migrations' SQL (:func:`pgwarden.risk.touched.tables_touched`); when
one migration's SQL is unknown or does not parse, every table counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pgwarden.durations import format_duration
from pgwarden.names import QualifiedName
from pgwarden.pg.blockers import find_blocking_sessions
from pgwarden.pg.connection import connection
from pgwarden.pipeline.deploy_run import DeployRun
from pgwarden.records import Check, Migration
from pgwarden.risk.touched import tables_touched

#: Transactions older than this holding locks on a migrated table count as pre-flight blockers.
LONG_TRANSACTION_S = 1.0
#: How often the pre-flight looks again while it waits for blockers to finish.
RECHECK_S = 0.25


def tables_of(pending: Iterable[Migration]) -> set[QualifiedName] | None:
    """Every table the pending migrations touch; None (every table) when one's SQL cannot be read."""
    tables: set[QualifiedName] = set()
    for m in pending:
        touched = tables_touched(m.sql) if m.sql else None
        if touched is None:
            return None
        tables |= touched
    return tables


def preflight(run: DeployRun, pending: list[Migration]) -> None:
    """Report (and optionally wait for) sessions the migrations would queue behind."""
    started = time.monotonic()
    tables = tables_of(pending)
    wait_s = run.settings.deploy.preflight_wait
    deadline = time.monotonic() + wait_s
    with connection(run.target) as conn:
        blockers = find_blocking_sessions(conn, tables, min_xact_age_s=LONG_TRANSACTION_S)
        if blockers:
            for b in blockers:
                run.say(f"pre-flight: {b.describe()}")
            if wait_s > 0:
                run.say(f"pre-flight: waiting up to {format_duration(wait_s)} for them to finish")
                while blockers and time.monotonic() < deadline:
                    time.sleep(RECHECK_S)
                    blockers = find_blocking_sessions(conn, tables, min_xact_age_s=LONG_TRANSACTION_S)
    run.preflight = blockers
    names = None if tables is None else sorted(t.display for t in tables)
    scope = "every table" if names is None else (", ".join(names) or "no table")
    detail = "; ".join(b.describe() for b in blockers) if blockers else f"none holding locks on {scope}"
    run.checks.append(Check("no session holding locks the migrations need", not blockers, detail, warning=True))
    run.step("preflight", "clear" if not blockers else "blockers", started,
             tables=names, blockers=[b.to_json() for b in blockers])
