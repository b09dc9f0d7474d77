"""``plan --rehearsal FILE``: what ``pgwarden rehearse`` measured, as findings and notes of the plan.

:func:`load_rehearsal` reads the document ``rehearse --format json`` printed (a file that is not
one is a usage error naming the file and what is wrong, exit 2); :func:`rehearsal_review` turns it
into the rehearsal-failed and rehearsal-long-lock findings and into notes when the rehearsal does
not match this plan (it rehearsed other migrations, or left its scratch copy behind).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgwarden.config import IgnoreEntry
from pgwarden.errors import ConfigError
from pgwarden.records import Finding, Migration
from pgwarden.rehearsal import RehearsalReport
from pgwarden.risk.rules import rehearsal_failed, rehearsal_long_lock
from pgwarden.risk.waivers import apply_ignores

_HINT = "pass the file `pgwarden rehearse --format json` printed (the workflow's rehearse.json)"


def load_rehearsal(path: str | Path) -> RehearsalReport:
    """The rehearsal document at ``path``; ConfigError (exit 2) naming the file when it is not one."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--rehearsal {path}: no such file", hint=_HINT) from None
    except IsADirectoryError:
        raise ConfigError(f"--rehearsal {path}: is a folder, not a file", hint=_HINT) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--rehearsal {path}: not UTF-8 text (byte {exc.start})", hint=_HINT) from None
    except OSError as exc:
        raise ConfigError(f"--rehearsal {path}: cannot be read ({exc.strerror or exc})", hint=_HINT) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--rehearsal {path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                          hint=_HINT) from None
    if isinstance(document, dict) and "error" in document and "migrations" not in document:
        error = document.get("error")
        said = error.get("message") if isinstance(error, dict) else None
        raise ConfigError(f"--rehearsal {path}: the rehearsal did not run" + (f": {said}" if said else ""),
                          hint="fix what `pgwarden rehearse` said, rehearse again, then plan with its report")
    if isinstance(document, dict) and "findings" in document and "migrations" in document:
        raise ConfigError(f"--rehearsal {path}: a plan report (pgwarden plan --format json), not a rehearsal report",
                          hint=_HINT)
    try:
        return RehearsalReport.from_json(document)
    except ValueError as exc:
        raise ConfigError(f"--rehearsal {path}: not a rehearsal report ({exc})", hint=_HINT) from None


@dataclass
class RehearsalReview:
    """What a rehearsal adds to the plan: findings, those a reasoned ``risk.ignore`` waived, notes."""

    findings: list[Finding] = field(default_factory=list)
    waived: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def rehearsal_review(rehearsal: RehearsalReport, shown: Sequence[Migration], pending: Sequence[Migration],
                     max_lock_s: float, *, live: bool, ignores: Sequence[IgnoreEntry] = ()) -> RehearsalReview:
    """The findings and notes of ``rehearsal`` for a plan listing ``shown`` with ``pending`` to run.

    ``live``: the plan read what is pending from the database (only then is a pending migration
    the rehearsal did not run worth a note: a static plan lists applied ones as pending too).
    ``ignores`` (``risk.ignore``) waive findings as they waive the statement rules' own.
    """
    measured = rehearsal_failed.findings(rehearsal, shown)
    measured += rehearsal_long_lock.findings(rehearsal, max_lock_s, shown,
                                             new=rehearsal_long_lock.new_tables(pending))
    findings, waived = apply_ignores(measured, ignores)
    notes = []
    planned = {m.name for m in shown}
    rehearsed = [m.name for m in rehearsal.migrations]
    unknown = [name for name in rehearsed if name not in planned]
    if unknown:
        notes.append(f"The rehearsal (backup {rehearsal.backup_id}) ran {len(unknown)} migration(s) this plan does "
                     f"not have pending ({', '.join(unknown[:5])}{', …' if len(unknown) > 5 else ''}): it is of "
                     "another commit or database. Rehearse this commit again before trusting its figures.")
    missed = [m.name for m in pending if m.name not in set(rehearsed)]
    if live and missed:
        notes.append(f"{len(missed)} pending migration(s) were not rehearsed ({', '.join(missed[:5])}"
                     f"{', …' if len(missed) > 5 else ''}): rehearse this commit again to measure them.")
    if not rehearsal.dropped:
        notes.append(f"The rehearsal's scratch database {rehearsal.scratch_database} was not dropped: it holds a "
                     "copy of production data. Drop it (DROP DATABASE) once you no longer need it.")
    return RehearsalReview(findings, waived, notes)
