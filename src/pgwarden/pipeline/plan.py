"""The ``plan`` step: which migrations are pending, and what running them would risk.

:func:`plan_migrations` gathers the pending migrations (from the project's tool, or explicit
PATHs), reads the tool's history for migrations that failed or were edited after they were
applied, and hands the pending SQL to the risk engine (with a read-only connection for live
context when there is a database). Without a database, ``base`` (``plan --base REF``) takes
the history from git instead (:mod:`pgwarden.pipeline.plan_base`). The result,
:class:`PlanReport`, is plain data: reporters render it, the CLI turns ``blocked`` into exit
code 3.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.config import Settings, check_migrations_path
from pgwarden.errors import ConfigError
from pgwarden.names import TOOL_HISTORY_TABLES, QualifiedName
from pgwarden.records import SEVERITY_NAMES, Finding, Migration, MigrationStatus, PlanReport
from pgwarden.risk.engine import review_set
from pgwarden.risk.rules import edited_after_apply, failed_migration, history_missing, sql_unavailable
from pgwarden.tools import get_tool
from pgwarden.tools.base import read_migration_text
from pgwarden.tools.prisma_order import is_prisma_folder, migration_files
from pgwarden.tools.sqldir import discover

# What only a plan with a database, --base, --rehearsal or a configured tool uses loads there: a
# PR check planning a few files in a fresh process pays for every import (bench/plan_speed.py).
if TYPE_CHECKING:
    import psycopg

    from pgwarden.pg.connection import DatabaseTarget
    from pgwarden.rehearsal import RehearsalReport
    from pgwarden.tools.base import MigrationTool


def plan_migrations(
    settings: Settings,
    *,
    paths: Sequence[str] = (),
    target: DatabaseTarget | None = None,
    fail_on: str | None = None,
    base: str | None = None,
    rehearsal: RehearsalReport | None = None,
) -> PlanReport:
    """Plan the pending migrations of the project (or of ``paths``), statically or against ``target``.

    ``fail_on`` overrides ``settings.risk.fail_on``. ``rehearsal`` (``plan --rehearsal FILE``) adds
    what the migrations did on a copy of production, judged against ``rehearsal.max_lock``. Explicit
    ``paths`` (files or folders) are planned as pending, in the order given; without them the
    configured tool says what is pending: from the database's history with ``target`` (only read,
    over a read-only session), else from the git diff against ``base`` when given, else everything
    it lists.
    """
    threshold = fail_on or settings.risk.fail_on
    if threshold != "never" and threshold not in SEVERITY_NAMES:
        raise ConfigError(f"--fail-on: expected one of {', '.join(SEVERITY_NAMES)} or never, got {threshold!r}")
    explicit = explicit_migrations(settings, paths) if paths else None
    if target is None:
        return _plan(settings, None, explicit, threshold, database=None, base=base, rehearsal=rehearsal)
    from pgwarden.pg.connection import connect  # psycopg: 0.15 s of CPU a static plan does not need

    conn = connect(target, options="-c default_transaction_read_only=on")
    try:
        return _plan(settings, conn, explicit, threshold, database=target.display(), base=base,
                     rehearsal=rehearsal)
    finally:
        conn.close()


@dataclass
class _Pending:
    """What is pending and how that was known, before the risk review."""

    shown: list[Migration]
    pending: list[Migration]
    tool: str
    basis: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    base: str | None = None


def _plan(
    settings: Settings,
    conn: psycopg.Connection[Any] | None,
    explicit: list[Migration] | None,
    fail_on: str,
    *,
    database: str | None,
    base: str | None,
    rehearsal: RehearsalReport | None = None,
) -> PlanReport:
    found = _pending(settings, conn, explicit, base)
    if conn is not None and explicit is None:
        found.findings += _history_missing(settings, conn, found)
    # The configured tool's migrations are applied by pgwarden deploy, under deploy.lock_timeout
    # (sqldir SETs it, the external tools get it through PGOPTIONS and the URL): explicit PATHs may
    # be run by anything.
    reviewed = review_set(found.pending, conn=conn, risk=settings.risk,
                          session_lock_timeout=explicit is None and settings.deploy.lock_timeout > 0)
    if reviewed.facts_errors:
        failed = "; ".join(reviewed.facts_errors[:3]) + ("; ..." if len(reviewed.facts_errors) > 3 else "")
        found.notes.append(
            f"Live context is incomplete: {len(reviewed.facts_errors)} lookup(s) failed ({failed}); findings on "
            "those tables are judged without their size. Grant the plan role SELECT on them (or, for a timeout, "
            "raise risk.statement_timeout) for full context."
        )
    unavailable = [sql_unavailable.finding(m) for m in found.pending if m.sql is None]
    measured: list[Finding] = []
    measured_waived: list[Finding] = []
    if rehearsal is not None:
        from pgwarden.pipeline.plan_rehearsal import rehearsal_review

        rehearsed = rehearsal_review(rehearsal, found.shown, found.pending, settings.rehearsal.max_lock,
                                     live=found.basis == "live", ignores=settings.risk.ignore)
        found.notes += rehearsed.notes
        measured, measured_waived = rehearsed.findings, rehearsed.waived
    return PlanReport(
        migrations=found.shown,
        findings=found.findings + unavailable + measured + reviewed.findings,
        fail_on=fail_on,
        tool=found.tool,
        database=database,
        notes=found.notes,
        basis=found.basis,
        base=found.base,
        waived=measured_waived + reviewed.waived,
        rehearsal=rehearsal,
        rehearsal_max_lock_s=settings.rehearsal.max_lock if rehearsal is not None else None,
    )


def _history_missing(settings: Settings, conn: psycopg.Connection[Any], found: _Pending) -> list[Finding]:
    """history-missing when the tool's history table is not in the database although tables the
    pending CREATE TABLE statements create are: then "everything is pending" is not to be trusted."""
    if not found.pending or found.tool not in TOOL_HISTORY_TABLES:
        return []
    from pgwarden.risk.context import LiveFacts

    facts = LiveFacts(conn, settings.risk.statement_timeout)
    history = facts.table(QualifiedName(None, TOOL_HISTORY_TABLES[found.tool]))
    if history is None or history.exists:  # unknown (a failed lookup) or there: pending is what it says
        return []
    existing = []
    for migration, table in history_missing.created_tables(found.pending):
        table_facts = facts.table(table)
        if table_facts is not None and table_facts.exists:
            existing.append((migration, table_facts))
    return [history_missing.finding(found.tool, existing, len(found.pending))] if existing else []


def _pending(settings: Settings, conn: psycopg.Connection[Any] | None, explicit: list[Migration] | None,
             base: str | None) -> _Pending:
    if explicit is not None:
        found = _Pending(explicit, explicit, "paths", "live" if conn is not None else "static")
        if base is not None:
            found.notes.append(f"--base {base} was not used: the PATHs given are planned as pending.")
        return found
    check_migrations_path(settings)
    tool = get_tool(settings)
    if conn is None and base is not None:
        from pgwarden.pipeline.plan_base import pending_from_diff

        diff = pending_from_diff(tool, Path(settings.base_dir), base)
        # No note on the basis itself: every report says it from PlanReport.basis and base.
        return _Pending(diff.shown, diff.pending, tool.name, "diff", diff.findings, diff.notes, diff.label)
    try:
        shown, pending, findings = from_tool(tool, conn)
    except Exception as exc:
        import psycopg  # loaded already when a database was read, the only way to be refused

        if not isinstance(exc, psycopg.errors.InsufficientPrivilege):
            raise
        role = conn.info.user if conn is not None else "the plan role"
        raise ConfigError(
            f"the database role {role!r} may not read the migration history ({str(exc).strip().splitlines()[0]}): "
            "plan reads it to know what is pending",
            hint=f"GRANT SELECT ON {tool.history_table} TO {role}; (see "
            "docs/github-actions.md#live-data-for-the-review)",
        ) from None
    found = _Pending(shown, pending, tool.name, "live" if conn is not None else "static", findings)
    if conn is not None and base is not None:
        found.notes.append(f"--base {base} was not needed: pending was read from the database's history.")
    return found


def from_tool(
    tool: MigrationTool, conn: psycopg.Connection[Any] | None
) -> tuple[list[Migration], list[Migration], list[Finding]]:
    """(migrations to list, pending migrations with SQL, findings about the history).

    The history findings: each migration ``tool`` records as failed (failed-migration) and each
    whose file changed after it was applied (edited-after-apply). Without ``conn`` there is no
    history: everything the tool lists is pending.
    """
    if conn is None:
        pending = tool.pending(None)
        return pending, pending, []
    everything = tool.migrations(conn)
    edited = [m for m in everything if m.status is MigrationStatus.EDITED]
    failed = tool.failed(conn)
    if tool.name == "sql":
        # SqlDirTool.pending refuses on an edited file; plan reports it as a finding instead.
        pending = [m for m in everything if m.status in (MigrationStatus.PENDING, MigrationStatus.FAILED)]
    else:
        pending = tool.pending(conn)
    failed_names = {m.name for m in failed}
    pending_by_name = {m.name: m for m in pending}
    shown: list[Migration] = []
    for migration in everything:
        if migration.name in pending_by_name:
            migration = pending_by_name[migration.name]
        elif migration.status is MigrationStatus.APPLIED:
            continue
        if migration.name in failed_names:
            # Due to re-run once resolved, but what the reader must see is that it failed.
            migration = dataclasses.replace(migration, status=MigrationStatus.FAILED)
        shown.append(migration)
    shown_names = {m.name for m in shown}
    shown += [m for m in pending if m.name not in shown_names]
    findings = [
        failed_migration.finding(m, tool=tool.name, resolve_hint=tool.resolve_hint(m.name),
                                 logs=tool.failure_logs(conn, m.name))
        for m in failed
    ]
    findings += [edited_after_apply.finding(m, tool=tool.name) for m in edited]
    return shown, pending, findings


def explicit_migrations(settings: Settings, paths: Sequence[str]) -> list[Migration]:
    """Explicit PATHs as pending migrations, in the order given. A missing path is a usage error."""
    result: list[Migration] = []
    cwd = os.getcwd()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"{raw}: no such file or folder (given as a PATH to plan)")
        if path.is_dir() and (path / "migration.sql").is_file():
            result.append(_file_migration(path / "migration.sql", cwd, name=path.name))
        elif path.is_dir() and is_prisma_folder(path):
            # Prisma's own order (folder name): two folders may share a timestamp.
            result.extend(_file_migration(file, cwd, name=name) for name, file in migration_files(path))
        elif path.is_dir():
            files = discover(path)
            if not files:
                raise ConfigError(f"{raw}: expected .sql migrations in this folder, found none")
            result.extend(_file_migration(f.path, cwd, name=f.name) for f in files)
        else:
            name = path.parent.name if path.name == "migration.sql" else path.stem
            result.append(_file_migration(path, cwd, name=name))
    return result


def _file_migration(path: Path, cwd: str, *, name: str) -> Migration:
    """A PATH given to plan, as a pending migration. No checksum: an explicit PATH is reviewed, never
    recorded in a history nor compared with one (and hashing it loaded OpenSSL for nothing)."""
    sql = read_migration_text(path)  # NUL bytes, bad UTF-8, odd names: exit 2 with the byte offset
    return Migration(name=name, path=_display(path, cwd), status=MigrationStatus.PENDING, sql=sql)


def _display(path: Path, cwd: str) -> str:
    """Paths as the user gave them relative to the working directory ``cwd`` (annotations need that)."""
    real = _real_path(path, cwd)
    inside = _real_folder(cwd, cwd)
    inside = inside if inside.endswith(os.sep) else inside + os.sep
    return real[len(inside):] if real.startswith(inside) else str(path)


def _real_path(path: Path, cwd: str) -> str:
    """``str(path.resolve())``, with each folder resolved once for all of its files (a thousand
    files' resolve() walked every component of every path: a third of reading them)."""
    name = path.name
    text = str(path)
    if name in ("", ".", "..") or os.path.islink(text):
        return str(path.resolve())
    return os.path.join(_real_folder(cwd, os.path.dirname(text) or "."), name)


@lru_cache(maxsize=64)
def _real_folder(cwd: str, folder: str) -> str:
    """``folder`` (relative to ``cwd``, the working directory) resolved, once for all of its files."""
    return str(Path(folder).resolve())
