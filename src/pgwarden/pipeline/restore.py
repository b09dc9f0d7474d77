"""``pgwarden restore``: put a verified backup back, safely, and prove it worked.

Refusals come first and touch nothing: a ``--confirm`` that is not the target database's name,
``latest`` when no backup of the target database is verified, an unverified backup id, a backup of
another database or server (unless ``--allow-other-database``), an ``--into`` database that
exists. Then every stored file is read in full into scratch space and checked
(:mod:`pgwarden.pipeline.restore_source`); only after all of them match does anything connect to
restore (:mod:`pgwarden.pipeline.restore_load`). Afterwards the row counts are compared with the
manifest, the recovery time with ``restore.rto`` (:class:`~pgwarden.pipeline.checks.RecoveryClock`),
and the restored tables get planner statistics. ``--snapshot`` restores the backup's managed
snapshot into a new instance instead.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import psycopg

from pgwarden.config import Settings
from pgwarden.durations import format_duration
from pgwarden.errors import ConfigError, OperationFailed, SafetyRefusal
from pgwarden.manifest import BackupManifest, DatabaseIdentity, Match, match_backup
from pgwarden.names import QualifiedName
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.pg.deploy_lock import RESTORE_LOCK_APPLICATION_NAME, DeployLock
from pgwarden.pg.identity import read_identity
from pgwarden.pg.tables import analyze_schemas
from pgwarden.pipeline.checks import RecoveryClock
from pgwarden.pipeline.restore_load import restore_manifest, switch_over_commands
from pgwarden.pipeline.restore_source import resolve_backup
from pgwarden.records import Check, Progress, StepResult
from pgwarden.redact import redact
from pgwarden.snapshots import restore_snapshot
from pgwarden.stores import open_store


def _quiet(_: str) -> None:
    pass


def restore_backup(
    settings: Settings,
    target: DatabaseTarget,
    backup_id: str,
    *,
    store_uri: str | None = None,
    confirm: str | None = None,
    into: str | None = None,
    allow_other_database: bool = False,
    progress: Progress | None = None,
) -> StepResult:
    """Restore ``backup_id`` (or ``latest`` verified) in place (``confirm``) or into a new database.

    The backup must be of the target database (its name and server) unless ``allow_other_database``.
    """
    say = progress or _quiet
    if (confirm is None) == (into is None):
        raise ConfigError("restore needs exactly one of --confirm DBNAME (in place) or --into NEWDB (new database)")
    if confirm is not None and confirm != target.dbname:
        raise SafetyRefusal(
            f"--confirm {confirm!r} does not match the target database {target.dbname!r}: nothing was changed",
            hint=f"to overwrite {target.display()} pass --confirm {target.dbname}, or use --into NEWDB",
        )
    if into is not None and into == target.dbname:
        raise SafetyRefusal(f"--into {into} is the target database itself; use --confirm {into} to restore in place")
    clock = RecoveryClock()
    store = open_store(store_uri or settings.backup.store, settings)
    identity = read_identity(target)
    manifest = resolve_backup(store, backup_id, identity, allow_other_database=allow_other_database)
    found = match_backup(manifest, identity)
    if found is Match.UNKNOWN_SERVER:
        say(f"backup {manifest.id} is of {manifest.database!r}; its server or this one is not recorded "
            "(a backup by an older pgwarden, or pg_control_system() not allowed): matched by name only")
    elif not found.ours:
        say(f"restoring backup {manifest.id} of {manifest.identity.describe()} into {identity.describe()} "
            "(--allow-other-database)")
    # In place: hold the deploy lock, so no deploy migrates the database while it is replaced
    # (restore.yml runs in its own concurrency group, apart from migrate.yml's).
    lock = (DeployLock(target, wait_s=settings.deploy.lock_wait, application_name=RESTORE_LOCK_APPLICATION_NAME)
            if into is None else nullcontext())
    with lock:
        outcome = restore_manifest(settings, target, store, manifest, into=into, say=say, clock=clock)
    duration = clock.seconds
    rto = settings.restore.rto
    checks = [*outcome.checks, clock.check(rto)]
    where = into if into is not None else target.dbname
    analyze_s = _analyze(settings, target.with_dbname(where), manifest, checks, say)
    ok = all(c.ok or c.warning for c in checks)
    summary = (
        f"restored backup {manifest.id} ({manifest.created_at}) into {where} in {format_duration(duration)}"
        + ("" if ok else "; row counts differ from the backup")
    )
    details: dict[str, Any] = {
        "backup_id": manifest.id,
        "store": store.uri,
        "database": where,
        "mode": "into" if into is not None else "in-place",
        "method": outcome.run.method,
        "skipped_settings": outcome.run.dropped_settings,
        "fetch_s": round(outcome.fetch_s, 3),
        "restore_s": round(outcome.restore_s, 3),
        "analyze_s": analyze_s,
        "rto_s": rto,
        "within_rto": clock.within(rto),
        "migration_head": manifest.migration_head,
        "rows": outcome.rows,
    }
    if into is None:
        details["dropped_not_in_backup"] = outcome.dropped
        details["dropped_outside_backup_schemas"] = outcome.dropped_outside
    if into is not None:
        details["switch_over"] = switch_over_commands(target, into, manifest.id)
    return StepResult("restore", ok=ok, summary=redact(summary), duration_s=duration, checks=checks, details=details)


def _analyze(settings: Settings, destination: DatabaseTarget, manifest: BackupManifest, checks: list[Check],
             say: Progress) -> float | None:
    """Planner statistics for what was restored (``restore.analyze``); seconds taken, None when off.

    The restore is done and counted by now: a failure here is a warning, never a failed restore.
    """
    if not settings.restore.analyze:
        return None
    schemas = {QualifiedName.parse(name).schema_or_public for name in manifest.tables}
    if not schemas:
        return None
    started = time.monotonic()
    try:
        with connect(destination) as conn:
            count, kept = analyze_schemas(conn, schemas, keep_restored=True)
    except psycopg.Error as exc:
        checks.append(Check("planner statistics", ok=False, warning=True,
                            detail=f"ANALYZE failed: {redact(str(exc).strip())}; run it by hand, or let autovacuum"))
        return None
    seconds = time.monotonic() - started
    came = f"; {kept} came with the backup (pg_dump --statistics)" if kept else " (the backup carries none)"
    say(f"planner statistics: analyzed {count} tables in {format_duration(seconds)}{came}")
    return round(seconds, 3)


def restore_snapshot_backup(
    settings: Settings,
    backup_id: str,
    *,
    into: str,
    store_uri: str | None = None,
    database: str | None = None,
    progress: Progress | None = None,
) -> StepResult:
    """Restore the managed snapshot recorded with a backup into a *new* instance/cluster ``into``.

    ``database`` (the database URL's name, when given) makes ``latest`` that database's newest
    backup; no connection is made, the server being restored may be the one that is gone.
    """
    say = progress or _quiet
    clock = RecoveryClock()
    store = open_store(store_uri or settings.backup.store, settings)
    identity = DatabaseIdentity(database) if database else None
    manifest = resolve_backup(store, backup_id, identity)
    snapshot = manifest.snapshot or {}
    if not snapshot.get("id"):
        raise OperationFailed(
            f"backup {manifest.id} has no managed snapshot"
            + (f" (it failed: {snapshot['error']})" if snapshot.get("error") else ""),
            hint="restore the logical backup instead: drop --snapshot",
        )
    described = restore_snapshot(settings, snapshot, into, say)
    duration = clock.stop()
    endpoint = described.get("endpoint") or {}
    return StepResult(
        "restore", ok=True,
        summary=f"restored snapshot {snapshot['id']} into new {snapshot.get('kind', 'instance')} {into} "
        f"({endpoint.get('address')}:{endpoint.get('port')}) in {format_duration(duration)}",
        duration_s=duration,
        checks=[clock.check(settings.restore.rto)],
        details={"backup_id": manifest.id, "mode": "snapshot", "snapshot": described},
    )
