"""Unfinished migrations: which migration a deploy started and did not see finish, for every tool.

A deploy attempt writes a ``started`` row per pending migration before the tool runs
(:mod:`pgwarden.pg.unfinished`). What became of them is decided from the tool's own history and
:attr:`~pgwarden.records.Migration.atomic`, the same way for every tool (:func:`settle`):

- applied by the tool's history: finished, the row goes;
- the first one of the run the history does not show applied was running when the attempt ended.
  Atomic: it rolled back with its transaction (a failure the tool recorded is the tool's business,
  :meth:`~pgwarden.tools.base.MigrationTool.failed`). Not atomic, and the tool cannot say it
  changed nothing: ``unknown``, it may be partly applied;
- the ones after it never started: their rows go.

``deploy`` settles the rows left by a deploy that died, and refuses while one is ``unknown``
(:func:`refuse_unknown`); ``status`` and ``verify`` show the same verdict without writing
(:func:`migrations_with_unknown`); ``pgwarden resolve`` clears one (:mod:`pgwarden.pipeline.resolve`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from pgwarden.errors import SafetyRefusal
from pgwarden.pg.deploy_lock import deploy_in_progress
from pgwarden.pg.unfinished import STARTED, UNKNOWN, UnfinishedRow, delete_rows, mark_unknown, read_rows
from pgwarden.records import Check, Migration, MigrationStatus
from pgwarden.tools.base import MigrationTool

_DONE = (MigrationStatus.APPLIED, MigrationStatus.EDITED)


@dataclass(frozen=True)
class Unfinished:
    """A migration that started and did not finish; it may be partly applied."""

    migration: str
    run_id: str | None
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"migration": self.migration, "run_id": self.run_id, "why": self.why}


@dataclass(frozen=True)
class Settlement:
    """What :func:`settle` decided: rows to delete, and migrations that became unknown (with why)."""

    finished: list[str]
    unknown: list[Unfinished]


def resolve_command(name: str) -> str:
    """The command a responder runs once they know what became of ``name``."""
    quoted = name if name.replace("_", "").replace("-", "").replace(".", "").isalnum() else repr(name)
    return f"pgwarden resolve {quoted} --applied|--rolled-back"


@dataclass(frozen=True)
class AttemptEnd:
    """How an attempt pgwarden saw return ended: ``failed`` names the migration the adapter reports
    failed (None: none, e.g. the tool could not connect, or all went well), ``untouched`` says the
    adapter knows that migration changed nothing, ``error`` says why it failed."""

    failed: str | None = None
    untouched: bool = False
    error: str | None = None


def settle(rows: Sequence[UnfinishedRow], status: dict[str, MigrationStatus],
           attempt: AttemptEnd | None = None) -> Settlement:
    """Decide the ``started`` rows (pure); see the module docstring.

    ``status`` is the tool's history now; ``attempt`` is how the attempt that wrote the rows
    ended, None for rows left by a deploy that died (nobody knows how it ended).
    """
    finished: list[str] = []
    unknown: list[Unfinished] = []
    runs: dict[str, list[UnfinishedRow]] = {}
    for row in rows:
        if row.state == STARTED:
            runs.setdefault(row.run_id, []).append(row)
    for run_id, run_rows in runs.items():
        running_seen = False
        for row in sorted(run_rows, key=lambda r: r.position):
            if status.get(row.migration) in _DONE or running_seen:
                finished.append(row.migration)
                continue
            running_seen = True
            if attempt is None:
                maybe_partial, why = not row.atomic, f"deploy {run_id} stopped while it ran, and it is not atomic"
            else:
                maybe_partial = attempt.failed == row.migration and not row.atomic and not attempt.untouched
                why = "it failed half-way and is not atomic" + (f": {attempt.error}" if attempt.error else "")
            if maybe_partial:
                unknown.append(Unfinished(row.migration, run_id, why))
            else:
                finished.append(row.migration)
    return Settlement(finished, unknown)


def _status(tool: MigrationTool, conn: psycopg.Connection[Any]) -> tuple[list[Migration], dict[str, MigrationStatus]]:
    migrations = tool.migrations(conn)
    return migrations, {m.name: m.status for m in migrations}


def recorded_unknown(rows: Sequence[UnfinishedRow], migrations: Sequence[Migration],
                     tool_name: str) -> list[Unfinished]:
    """The ``unknown`` rows, and the migrations the tool's own history shows as unknown."""
    found = [Unfinished(r.migration, r.run_id, r.error or "it started and did not finish")
             for r in rows if r.state == UNKNOWN]
    names = {u.migration for u in found}
    found += [Unfinished(m.name, None, f"the {tool_name} history shows it started and not finished")
              for m in migrations if m.status is MigrationStatus.UNKNOWN and m.name not in names]
    return found


def settle_leftovers(tool: MigrationTool, conn: psycopg.Connection[Any]) -> list[Unfinished]:
    """Under the deploy lock: settle rows left by a deploy that died; every unknown migration."""
    rows = read_rows(conn, tool.name)
    migrations, status = _status(tool, conn)
    decided = settle(rows, status)
    delete_rows(conn, tool.name, decided.finished)
    for item in decided.unknown:
        mark_unknown(conn, tool.name, item.migration, item.why)
    rows = read_rows(conn, tool.name)
    return recorded_unknown(rows, migrations, tool.name)


def settle_attempt(tool: MigrationTool, conn: psycopg.Connection[Any], run_id: str,
                   attempt: AttemptEnd) -> list[Unfinished]:
    """After an attempt of ``run_id`` returned: settle its rows; the migrations that became unknown."""
    rows = [r for r in read_rows(conn, tool.name) if r.run_id == run_id]
    _, status = _status(tool, conn)
    decided = settle(rows, status, attempt)
    delete_rows(conn, tool.name, decided.finished)
    for item in decided.unknown:
        mark_unknown(conn, tool.name, item.migration, item.why)
    return decided.unknown


def migrations_with_unknown(tool: MigrationTool, conn: psycopg.Connection[Any],
                            dbname: str) -> tuple[list[Migration], list[Unfinished]]:
    """The tool's migrations, the unknown ones marked UNKNOWN, and those unknown ones; what
    :func:`settle_leftovers` would report, without writing (for ``status`` and ``verify``).

    While a deploy holds the lock its ``started`` rows are its own work in progress, not unknown.
    """
    rows = read_rows(conn, tool.name)
    migrations, status = _status(tool, conn)
    found = recorded_unknown(rows, migrations, tool.name)
    if any(r.state == STARTED for r in rows) and not deploy_in_progress(conn, dbname):
        known = {u.migration for u in found}
        found += [u for u in settle(rows, status).unknown if u.migration not in known]
    return with_unknown(migrations, found), found


def with_unknown(migrations: Sequence[Migration], unknown: Sequence[Unfinished]) -> list[Migration]:
    """``migrations`` with the unknown ones' status set to UNKNOWN."""
    names = {u.migration for u in unknown}
    return [dataclasses.replace(m, status=MigrationStatus.UNKNOWN) if m.name in names else m for m in migrations]


def refuse_unknown(tool: MigrationTool, conn: psycopg.Connection[Any]) -> Check:
    """Refuse (exit 4) while a migration is unknown; ``--allow-failed-state`` does not get past this."""
    unknown = settle_leftovers(tool, conn)
    if not unknown:
        return Check("no unfinished migration", True, "")
    first = unknown[0]
    names = ", ".join(u.migration for u in unknown)
    raise SafetyRefusal(
        f"migration {first.migration} started and did not finish ({first.why}); it may be partly applied, "
        f"and running it again could apply part of it twice" + (f" (also unfinished: {names})" if len(unknown) > 1
                                                                 else ""),
        hint=(f"check what of {first.migration} is in the database and finish or undo it by hand, then record "
              f"what you found: {resolve_command(first.migration)}"),
    )
