"""The ``plan`` step: which migrations are pending, and what running them would risk.

:func:`plan_migrations` gathers the pending migrations (from the project's tool, or explicit
PATHs), reads the tool's history for migrations that failed or were edited after they were
applied, and hands the pending SQL to the risk engine (with a read-only connection for live
context when there is a database). The result, :class:`PlanReport`, is plain data: reporters
render it, the CLI turns ``blocked`` into exit code 3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.config import Settings, check_migrations_path
from pgwarden.errors import ConfigError
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.records import SEVERITY_NAMES, Category, Finding, Migration, MigrationStatus, PlanReport, Severity
from pgwarden.tools.base import MigrationTool
from pgwarden.tools.sqldir import discover

FAILED_MIGRATION = "failed-migration"
EDITED_AFTER_APPLY = "edited-after-apply"
SQL_UNAVAILABLE = "sql-unavailable"
#: Rules that come from the tool's history rather than from the SQL (documented like the others).
STATE_RULES = (FAILED_MIGRATION, EDITED_AFTER_APPLY, SQL_UNAVAILABLE)
_HISTORY_TABLES = {
    "prisma": "_prisma_migrations",
    "sql": "pgwarden_migrations",
    "laravel": "migrations",
    "alembic": "alembic_version",
}


def plan_migrations(
    settings: Settings,
    *,
    paths: Sequence[str] = (),
    target: DatabaseTarget | None = None,
    fail_on: str | None = None,
) -> PlanReport:
    """Plan the pending migrations of the project (or of ``paths``), statically or against ``target``.

    ``fail_on`` overrides ``settings.risk.fail_on``. Explicit ``paths`` (files or folders) are
    planned as pending, in the order given; without them the configured tool says what is pending.
    With ``target`` the database is only read, over a read-only session.
    """
    threshold = fail_on or settings.risk.fail_on
    if threshold != "never" and threshold not in SEVERITY_NAMES:
        raise ConfigError(f"--fail-on: expected one of {', '.join(SEVERITY_NAMES)} or never, got {threshold!r}")
    explicit = explicit_migrations(settings, paths) if paths else None
    if target is None:
        return _plan(settings, None, explicit, threshold, database=None)
    conn = connect(target, options="-c default_transaction_read_only=on")
    try:
        return _plan(settings, conn, explicit, threshold, database=target.display())
    finally:
        conn.close()


def _plan(
    settings: Settings,
    conn: psycopg.Connection[Any] | None,
    explicit: list[Migration] | None,
    fail_on: str,
    *,
    database: str | None,
) -> PlanReport:
    from pgwarden.risk.engine import review

    state_findings: list[Finding] = []
    notes: list[str] = []
    if explicit is not None:
        migrations = explicit
        pending = explicit
        tool_name = "paths"
    else:
        from pgwarden.tools import get_tool

        check_migrations_path(settings)
        tool = get_tool(settings)
        tool_name = tool.name
        migrations, pending, state_findings = _from_tool(tool, conn)
        if conn is None:
            notes.append(
                "No database URL: every migration the tool lists is treated as pending, and findings are "
                "judged without table sizes. Pass --database-url for live context."
            )
    findings = review(pending, conn=conn, risk=settings.risk)
    unavailable = [_sql_unavailable(m) for m in pending if m.sql is None]
    return PlanReport(
        migrations=migrations,
        findings=state_findings + unavailable + findings,
        fail_on=fail_on,
        tool=tool_name,
        database=database,
        notes=notes,
    )


def _from_tool(
    tool: MigrationTool, conn: psycopg.Connection[Any] | None
) -> tuple[list[Migration], list[Migration], list[Finding]]:
    """(migrations to list, pending migrations with SQL, findings about the history)."""
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
    findings = [_failed_finding(tool, m, conn) for m in failed]
    findings += [_edited_finding(tool, m) for m in edited]
    return shown, pending, findings


def _failed_finding(tool: MigrationTool, migration: Migration, conn: psycopg.Connection[Any]) -> Finding:
    table = _HISTORY_TABLES.get(tool.name, "the history table")
    context: dict[str, Any] = {"resolve": tool.resolve_hint(migration.name)}
    logs_of = getattr(tool, "failure_logs", None)
    logs = logs_of(conn, migration.name) if callable(logs_of) else None
    if logs:
        context["logs"] = str(logs)[:2000]
    return Finding(
        rule=FAILED_MIGRATION,
        category=Category.WILL_FAIL,
        severity=Severity.CRITICAL,
        migration=migration.name,
        file=migration.path,
        message=(
            f"{migration.name} failed in an earlier deploy: {table} records it as started but neither "
            f"finished nor rolled back, so {tool.name} refuses to apply anything until it is resolved"
        ),
        suggestion=(
            f"Check what the failed attempt changed (its statements may be partly applied), undo or finish "
            f"that by hand, then run `{tool.resolve_hint(migration.name)}` and plan again."
        ),
        context=context,
    )


def _edited_finding(tool: MigrationTool, migration: Migration) -> Finding:
    table = _HISTORY_TABLES.get(tool.name, "the history table")
    return Finding(
        rule=EDITED_AFTER_APPLY,
        category=Category.WILL_FAIL,
        severity=Severity.CRITICAL,
        migration=migration.name,
        file=migration.path,
        message=(
            f"{migration.path} was edited after it was applied: its sha256 ({(migration.checksum or '')[:12]}...) "
            f"no longer matches the checksum recorded in {table}. The database does not have the new "
            "content, and the tool will refuse or silently ignore the change"
        ),
        suggestion=(
            "Restore the file exactly as it was applied (e.g. `git log -p` / `git checkout <commit> -- <file>`) "
            "and put the change in a new migration."
        ),
        context={"checksum": migration.checksum},
    )


def _sql_unavailable(migration: Migration) -> Finding:
    return Finding(
        rule=SQL_UNAVAILABLE,
        category=Category.OTHER,
        severity=Severity.MEDIUM,
        migration=migration.name,
        file=migration.path,
        message=f"pgwarden could not see the SQL of {migration.name}, so it was not reviewed",
        suggestion=(
            "Make the plan command print it (Laravel: `php artisan migrate --pretend --no-ansi` against a "
            "database where it is pending) or plan its SQL file as an explicit PATH."
        ),
    )


def explicit_migrations(settings: Settings, paths: Sequence[str]) -> list[Migration]:
    """Explicit PATHs as pending migrations, in the order given. A missing path is a usage error."""
    result: list[Migration] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"{raw}: no such file or folder (given as a PATH to plan)")
        if path.is_dir() and (path / "migration.sql").is_file():
            result.append(_file_migration(settings, path / "migration.sql", name=path.name))
        elif path.is_dir():
            files = discover(path)
            if not files:
                raise ConfigError(f"{raw}: expected .sql migrations in this folder, found none")
            result.extend(_file_migration(settings, f.path, name=f.name) for f in files)
        else:
            name = path.parent.name if path.name == "migration.sql" else path.stem
            result.append(_file_migration(settings, path, name=name))
    return result


def _file_migration(settings: Settings, path: Path, *, name: str) -> Migration:
    from pgwarden.tools.base import sha256_file

    try:
        sql = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: expected a UTF-8 SQL file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    return Migration(
        name=name, path=_display(path), status=MigrationStatus.PENDING, checksum=sha256_file(path), sql=sql
    )


def _display(path: Path) -> str:
    """Paths as the user gave them relative to the working directory (annotations need that)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
