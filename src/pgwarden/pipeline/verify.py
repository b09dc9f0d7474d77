"""``pgwarden verify``: prove the database is sound after a deploy (the seeds' 事後確認).

Checks, each a :class:`~pgwarden.records.Check` (a failed ``warning`` check does not fail the step):

- migration history: every migration of the folder is applied, none failed, unfinished
  (:mod:`~pgwarden.pipeline.unfinished`) or edited (per tool);
- schema health: no INVALID index (a failed ``CREATE INDEX CONCURRENTLY``), no table that lost
  the primary key it had when the last deploy started; NOT VALID constraints are warnings;
- data: row counts of the tables the migrations did not touch, against the backup manifest,
  within ``verify.row_count_tolerance`` (a drop beyond it fails; growth is live traffic); after
  a restore (``--restored-from``) every table, exactly (:mod:`pgwarden.pipeline.rowcounts`);
- the custom SQL checks of ``verify.checks`` (:func:`~pgwarden.pipeline.checks.run_sql_check`,
  as the drill runs them) and the ``verify.health_urls``.

The comparison backup is ``--backup-id``, else the one the last recorded deploy used.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import psycopg

from pgwarden.audit import latest_deploy
from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed, PgwardenError
from pgwarden.manifest import BackupManifest
from pgwarden.pg.catalog import invalid_indexes, not_valid_constraints, tables_with_primary_key, user_tables
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pipeline.checks import run_sql_check
from pgwarden.pipeline.rowcounts import ROW_COUNTS, RowCountPolicy, check_row_counts
from pgwarden.pipeline.unfinished import migrations_with_unknown, resolve_command
from pgwarden.records import Check, MigrationStatus, Progress, StepResult
from pgwarden.redact import redact
from pgwarden.risk.touched import tables_touched
from pgwarden.stores import open_store
from pgwarden.tools import get_tool


def _noop(_message: str) -> None:
    return None


def ordered(checks: list[Check]) -> list[Check]:
    """Failing checks first, then failing warnings, then the passing ones (stable within each)."""
    return sorted(checks, key=lambda c: 2 if c.ok else (1 if c.warning else 0))


# --- migration history ------------------------------------------------------------------------


def check_history(
    settings: Settings, conn: psycopg.Connection[Any], *, restored_head: str | None = None, after_restore: bool = False
) -> tuple[list[Check], list[Any]]:
    """Migration history checks. After a restore the expected state is the backup's head:
    migrations after it are pending again, which is reported (with the way back) but not a failure."""
    tool = get_tool(settings)
    try:
        migrations, unknown = migrations_with_unknown(tool, conn, str(conn.info.dbname))
    except ConfigError:
        raise  # a file pgwarden refuses to read (NUL byte, not UTF-8): exit 2, naming it
    except PgwardenError as exc:
        return [Check("migration history readable", False, redact(str(exc)))], []
    by_status: dict[MigrationStatus, list[str]] = {s: [] for s in MigrationStatus}
    for m in migrations:
        by_status[m.status].append(m.name)
    failed = set(by_status[MigrationStatus.FAILED]) | {m.name for m in tool.failed(conn)}
    pending = by_status[MigrationStatus.PENDING]
    head = tool.head(conn)
    if after_restore:
        detail = f"head {head or 'none'}"
        if head != restored_head:
            detail += f", the backup was at {restored_head or 'none'}"
        history = [Check("migration head matches the backup", head == restored_head, detail)]
        if pending:
            history.append(Check(
                "migrations after the backup are pending again", False,
                f"{', '.join(pending)}: re-apply them with pgwarden deploy once the cause is fixed", warning=True,
            ))
    else:
        # Failed and unfinished ones are not applied either (Prisma's failed 5th must fail this check).
        not_applied = [m.name for m in migrations if m.status not in (MigrationStatus.APPLIED, MigrationStatus.EDITED)]
        history = [Check("every migration applied", not not_applied,
                         ("not applied: " + ", ".join(not_applied)) if not_applied
                         else f"{len(by_status[MigrationStatus.APPLIED])} applied, head {head or 'none'}")]
    on_disk = {m.name for m in migrations}
    missing_files = [name for name in tool.recorded(conn) if name not in on_disk]
    checks = [
        *history,
        Check("every applied migration has its file", not missing_files,
              ("recorded as applied but not in the folder (deleted or renamed after it ran): "
               + ", ".join(missing_files)) if missing_files else ""),
        Check("no unfinished migration", not unknown, "; ".join(
            f"{u.migration} started and did not finish, may be partly applied ({u.why}); once checked: "
            f"{resolve_command(u.migration)}" for u in unknown)),
        Check("no failed migration", not failed, "; ".join(
            f"{name} (once cleaned up: {tool.resolve_hint(name)})" for name in sorted(failed))),
        Check("no migration edited after it was applied", not by_status[MigrationStatus.EDITED],
              ", ".join(by_status[MigrationStatus.EDITED])),
    ]
    return checks, migrations


# --- schema health ----------------------------------------------------------------------------


def check_schema(conn: psycopg.Connection[Any], pk_before: list[str] | None) -> list[Check]:
    invalid = invalid_indexes(conn)
    not_valid = not_valid_constraints(conn)
    checks = [
        Check("no INVALID index", not invalid,
              ("left by a failed CREATE INDEX CONCURRENTLY? drop and re-create: " + ", ".join(invalid))
              if invalid else ""),
        Check("no NOT VALID constraint", not not_valid,
              ("run ALTER TABLE ... VALIDATE CONSTRAINT: " + ", ".join(not_valid)) if not_valid else "",
              warning=True),
    ]
    if pk_before is not None:
        existing = user_tables(conn)
        now = set(tables_with_primary_key(conn))
        lost = sorted(t for t in pk_before if t in existing and t not in now)
        checks.append(Check("no table lost its primary key", not lost,
                            ("had one before the last deploy: " + ", ".join(lost)) if lost else ""))
    return checks


# --- row counts -------------------------------------------------------------------------------


def _touched_names(migration_sql: list[str | None]) -> set[str] | None:
    """The tables the migrations change, as :attr:`~pgwarden.names.QualifiedName.text` (unqualified
    meaning ``public``); None when any SQL is unreadable."""
    names: set[str] = set()
    for text in migration_sql:
        found = tables_touched(text) if text else None
        if found is None:
            return None
        names |= {n.text for n in found}
    return names


# --- health URLs ------------------------------------------------------------------------------


def check_health_url(url: str, *, timeout_s: float, retries: int, backoff_s: float = 1.0) -> Check:
    """GET ``url`` until it answers 2xx/3xx, at most ``retries + 1`` times."""
    if not url.startswith(("http://", "https://")):
        return Check(f"health {redact(url)}", False, "expected an http:// or https:// URL")
    last = ""
    for attempt in range(retries + 1):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked above
                status = int(response.status)
            elapsed = time.monotonic() - started
            return Check(f"health {redact(url)}", True, f"HTTP {status} in {elapsed * 1000:.0f}ms"
                         + (f" (after {attempt} retries)" if attempt else ""))
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            time.sleep(backoff_s * (attempt + 1))
    return Check(f"health {redact(url)}", False, redact(f"{last} after {retries + 1} attempt(s)"))


# --- the step ---------------------------------------------------------------------------------


def _load_manifest(
    settings: Settings, target: DatabaseTarget, backup_id: str
) -> tuple[BackupManifest | None, Check | None]:
    try:
        manifest = open_store(settings.backup.store, settings).get_manifest(backup_id)
    except OperationFailed as exc:
        return None, Check("backup manifest readable", False, redact(str(exc)))
    if manifest.database != target.dbname:
        return None, Check("backup manifest readable", False,
                           f"backup {backup_id} is of {manifest.database!r}, not {target.dbname!r}")
    return manifest, None


def run_verify(
    settings: Settings,
    target: DatabaseTarget,
    *,
    backup_id: str | None = None,
    restored_from: str | None = None,
    progress: Progress | None = None,
    health_backoff_s: float = 1.0,
) -> StepResult:
    """Run every check; ``ok`` is False when any non-warning check failed.

    ``restored_from`` verifies a restore instead of a deploy: the database must be at that
    backup's migration head with every table's rows as the backup recorded them.
    """
    say = progress or _noop
    started = time.monotonic()
    checks: list[Check] = []
    details: dict[str, Any] = {"database": target.dbname}
    with connection(target) as conn:
        say(f"verifying {target.display()}")
        restored_manifest = None
        if restored_from:
            restored_manifest, problem = _load_manifest(settings, target, restored_from)
            if problem is not None:
                checks.append(problem)
            details["restored_from"] = restored_from
        history_checks, migrations = check_history(
            settings, conn, after_restore=restored_from is not None,
            restored_head=restored_manifest.migration_head if restored_manifest is not None else None,
        )
        checks += history_checks
        last = latest_deploy(conn)
        details["last_deploy"] = None if last is None else {
            k: last[k] for k in ("run_id", "outcome", "backup_id", "migrations_applied")}
        deploy_details = (last or {}).get("details") or {}
        checks += check_schema(conn, deploy_details.get("tables_with_pk") if last else None)

        backup_id = restored_from or backup_id or (last or {}).get("backup_id")
        details["backup_id"] = backup_id
        history_table = get_tool(settings).history_table  # bookkeeping, whatever the app named it
        if restored_from:
            if restored_manifest is not None:  # (an unreadable manifest was reported above)
                # Nothing ran since the restore: every table must hold what the backup recorded.
                row_checks, counts = check_row_counts(
                    conn, restored_manifest, set(), RowCountPolicy.for_restore(settings.verify.row_count_tolerance),
                    history_table=history_table)
                checks += row_checks
                details["row_counts"] = [c.to_json() for c in counts]
        elif backup_id:
            manifest, problem = _load_manifest(settings, target, backup_id)
            if problem is not None:
                checks.append(problem)
            elif manifest is not None:
                applied = set((last or {}).get("migrations_applied") or [])
                if not applied and manifest.migration_head is not None:
                    # No deploy record: the migrations after the backup's head are the changed ones.
                    names = [m.name for m in migrations]
                    if manifest.migration_head in names:
                        applied = set(names[names.index(manifest.migration_head) + 1:])
                touched = _touched_names([m.sql for m in migrations if m.name in applied])
                row_checks, counts = check_row_counts(
                    conn, manifest, touched, RowCountPolicy.for_deploy(settings.verify.row_count_tolerance),
                    history_table=history_table)
                checks += row_checks
                details["row_counts"] = [c.to_json() for c in counts]
        else:
            checks.append(Check(ROW_COUNTS, False,
                                "no backup to compare with: pass --backup-id (or deploy with one)", warning=True))
        for custom in settings.verify.checks:
            say(f"check: {custom.name}")
            checks.append(run_sql_check(conn, custom))
    for url in settings.verify.health_urls:
        say(f"health: {redact(url)}")
        checks.append(check_health_url(url, timeout_s=settings.verify.health_timeout,
                                       retries=settings.verify.health_retries, backoff_s=health_backoff_s))
    checks = ordered([Check(redact(c.name), c.ok, redact(c.detail), c.warning) for c in checks])
    failing = [c for c in checks if not c.ok and not c.warning]
    warnings = [c for c in checks if not c.ok and c.warning]
    ok = not failing
    if ok:
        summary = f"{len(checks)} checks passed" + (f" ({len(warnings)} warning(s))" if warnings else "")
    else:
        summary = f"{len(failing)} of {len(checks)} checks failed: " + ", ".join(c.name for c in failing)
    return StepResult("verify", ok, summary, time.monotonic() - started, checks, details)
