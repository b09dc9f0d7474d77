"""``run_rehearsal``: run the pending migrations on a restored copy of production and measure what they did.

1. The backup: the verified backup of the target database (name and server), the newest or the one
   asked for, within ``rehearsal.max_age`` (:mod:`~pgwarden.pipeline.rehearse_choice`, exit 4 otherwise).
   The target is only read (over a read-only session): its identity, and what is pending there
   (nothing pending: nothing is restored).
2. The copy: restored into a new scratch database ``pgwarden_rehearse_<backup id>_<hex>`` on the
   target's server, or on the staging server whose URL is in the environment variable named by
   ``rehearsal.database_url_env`` (:func:`~pgwarden.pipeline.restore_load.restore_manifest`, which
   checks the local scratch space for the archive first and drops the new database if it fails).
   First the server's free space must hold the database plus its largest table (a rewrite needs it
   again), where it can be known (:mod:`~pgwarden.pg.server_space`), else exit 4.
3. The migrations: the deploy code path (:func:`~pgwarden.pipeline.deploy.run_deploy`, same limits,
   retries, lock watchdog and tool) on the copy, without hooks (they act on the production app),
   while :class:`~pgwarden.pg.lock_sampler.LockSampler` samples the copy's ``pg_locks``; the trace is
   split per migration by :func:`~pgwarden.pipeline.rehearse_measure.attribute`.
4. The copy is dropped in ``finally``: on success, on a failure, on Ctrl-C and on SIGTERM (which
   ``cli/main.py`` raises as a KeyboardInterrupt). Its name and lifetime are in the audit log
   (``rehearse.start``, ``rehearse.restore``, ``rehearse.migrate``, ``rehearse.drop``; the deploy
   path's own lines as ``rehearse.preconditions``, ``rehearse.migrate`` per attempt, ``rehearse.deploy``).

A migration that fails is not an exception: the report says so (``ok`` False, exit 1).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql

from pgwarden.audit import AuditLog, current_actor, current_git_sha, new_run_id
from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed, PgwardenError, SafetyRefusal
from pgwarden.guards import resolve_environment
from pgwarden.manifest import BackupManifest, DatabaseIdentity, utc_now_iso
from pgwarden.pg.connection import DatabaseTarget, connect, connection, server_version
from pgwarden.pg.identity import read_identity
from pgwarden.pg.lock_sampler import LockSampler
from pgwarden.pg.server_space import databases_named_like, free_bytes, space_need
from pgwarden.pg_messages import mask_data, mask_details, primary_message
from pgwarden.pipeline.checks import RecoveryClock
from pgwarden.pipeline.deploy import Rehearsal, run_deploy
from pgwarden.pipeline.deploy_preconditions import BackupChoice
from pgwarden.pipeline.rehearse_choice import (
    LATEST,
    SCRATCH_PREFIX,
    choose_rehearsal_backup,
    refuse_scratch_is_target,
    refuse_short_space,
    scratch_name,
)
from pgwarden.pipeline.rehearse_errors import sqlstate_of
from pgwarden.pipeline.rehearse_measure import MigrateOutcome, attribute
from pgwarden.pipeline.restore_load import restore_manifest
from pgwarden.records import MigrationStatus, Progress, StepResult
from pgwarden.redact import redact
from pgwarden.rehearsal import REHEARSAL_VERSION, RehearsalReport, RehearsedMigration
from pgwarden.stores import BackupStore, open_store
from pgwarden.tools import get_tool
from pgwarden.tools.alembic import AlembicTool
from pgwarden.tools.base import MigrationTool


def _quiet(_: str) -> None:
    pass


@dataclass
class RehearsalAudit(AuditLog):
    """The deploy's audit log, every action of the rehearsal as ``rehearse.<action>``, its fields without
    what may quote the copy's rows (:func:`~pgwarden.pg_messages.mask_data`)."""

    def write(self, action: str, outcome: str, *, duration_s: float | None = None, **fields: Any) -> dict[str, Any]:
        name = action if action.startswith("rehearse.") else f"rehearse.{action}"
        return super().write(name, outcome, duration_s=duration_s, **mask_data(fields))


def staging_server(settings: Settings) -> DatabaseTarget | None:
    """The staging server of ``rehearsal.database_url_env``, or None (the target's own server)."""
    name = settings.rehearsal.database_url_env
    if not name:
        return None
    url = os.environ.get(name)
    if not url:
        where = settings.source or "the config"
        raise ConfigError(f"rehearsal.database_url_env: the environment variable {name} (named in {where}) is "
                          "not set or empty",
                          hint=f"set {name} to the URL of the staging server, or remove rehearsal.database_url_env "
                               "to rehearse on the target's server")
    try:
        return DatabaseTarget.from_url(url)
    except ConfigError as exc:
        raise ConfigError(f"rehearsal.database_url_env: the URL in {name} is not valid: {exc.message}",
                          hint=f"set {name} to a postgresql:// URL of the staging server") from None


def run_rehearsal(
    settings: Settings,
    target: DatabaseTarget,
    *,
    backup_id: str | None = None,
    store_uri: str | None = None,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> RehearsalReport:
    """Restore, migrate and measure on a scratch copy, drop it; see the module docstring."""
    shown = progress or _quiet

    def say(text: str) -> None:
        # The copy's errors quote production rows (DETAIL: Key (email)=(…)); these lines reach CI logs.
        shown(mask_details(text))

    clock = RecoveryClock()
    store = open_store(store_uri or settings.backup.store, settings)
    staging = staging_server(settings)
    identity = read_identity(target)
    if backup_id and backup_id != LATEST:
        try:
            manifests = [store.get_manifest(backup_id)]
        except OperationFailed as exc:
            raise SafetyRefusal(f"rehearse: {exc.message}", hint=exc.hint) from None
    else:
        manifests = store.list_manifests()
    manifest = choose_rehearsal_backup(manifests, identity, max_age_s=settings.rehearsal.max_age,
                                       backup_id=backup_id, store_uri=store.uri)
    tool = get_tool(settings)
    server = staging or target
    scratch = scratch_name(manifest.id)
    refuse_scratch_is_target(scratch, identity, read_identity(server) if staging is not None else identity)
    report = _Report(manifest, identity, tool, settings)
    pending = _pending_on_target(tool, target, say)
    if pending == []:
        say(f"rehearse: nothing is pending on {target.dbname}: nothing to rehearse, nothing restored")
        return report.build(scratch="", dropped=True, migrations=[], server=server.display())

    run_id = run_id or new_run_id()
    audit = RehearsalAudit(
        path=settings.resolve_path(settings.deploy.audit_log), actor=current_actor(),
        environment=resolve_environment(None, settings.environment), git_sha=current_git_sha(settings.base_dir),
        run_id=run_id, database=target.dbname)
    copy = server.with_dbname(scratch)
    created = time.monotonic()
    say("rehearse: " + _space(target, server))
    audit.write("rehearse.start", "started", scratch_database=scratch, server=redact(copy.display()),
                backup_id=manifest.id)
    say(f"rehearse: restoring backup {manifest.id} of {target.dbname} into scratch database {scratch} on "
        f"{server.display()}")
    dropped = False
    try:
        _restore(settings, server, store, manifest, scratch, say, clock)
        report.restore_s = clock.seconds
        audit.write("rehearse.restore", "succeeded", duration_s=clock.seconds, scratch_database=scratch)
        report.rehearsed_at = utc_now_iso()
        started = time.monotonic()
        with LockSampler(copy, interval_s=settings.rehearsal.sample_interval,
                         done=finished_reader(tool)) as sampler:
            result = run_deploy(settings, copy, run_id=run_id, progress=say,
                                rehearsal=Rehearsal(BackupChoice(manifest.id, f"{manifest.id} (rehearsed)", manifest),
                                                    audit))
        report.migrate_s = time.monotonic() - started
        outcome = migrate_outcome(result)
        names = [str(n) for n in result.details.get("pending") or []]
        assert sampler.trace is not None
        migrations = attribute(sampler.trace, names, outcome)
        audit.write("rehearse.migrate", "succeeded" if result.ok else "failed", duration_s=report.migrate_s,
                    scratch_database=scratch, applied=outcome.applied, failed=outcome.failed,
                    sqlstate=outcome.sqlstate, error=outcome.error)
    finally:
        dropped = _drop(server, scratch, say)
        audit.write("rehearse.drop", "succeeded" if dropped else "failed", scratch_database=scratch,
                    lifetime_s=round(time.monotonic() - created, 3))
    return report.build(scratch=scratch, dropped=dropped, migrations=migrations, server=copy.display())


def finished_reader(tool: MigrationTool) -> Callable[[psycopg.Connection[Any]], set[str]]:
    """What the sampler asks, every ~50 ms, to tell the migrations apart: the names the tool's history
    shows applied. One query per ask: Alembic's ``recorded`` runs ``alembic history`` (a subprocess)
    to name the revisions, so that map is read once, here."""
    if isinstance(tool, AlembicTool):
        names = {r.revision: r.name for r in tool.revisions()}
        return lambda conn: {names.get(revision, revision) for revision in tool.current(conn)}
    return lambda conn: set(tool.recorded(conn))


def _restore(settings: Settings, server: DatabaseTarget, store: BackupStore, manifest: BackupManifest,
             scratch: str, say: Progress, clock: RecoveryClock) -> None:
    """The backup into the new scratch database, its rows counted against the manifest (a copy that
    differs would measure other data); a database error is a failure saying what to do."""
    try:
        outcome = restore_manifest(settings, server, store, manifest, into=scratch, say=say, clock=clock)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise OperationFailed(
            f"rehearse: could not create the scratch database {scratch} on {server.display()}: "
            f"{primary_message(str(exc))}",
            hint="the role needs CREATEDB (ALTER ROLE ... CREATEDB), or set rehearsal.database_url_env to a "
                 "staging server where it may create databases") from None
    except psycopg.Error as exc:
        raise OperationFailed(f"rehearse: restoring backup {manifest.id} into {scratch} failed: "
                              f"{primary_message(str(exc))}") from None
    wrong = [c for c in outcome.checks if not c.ok and not c.warning]
    if wrong:
        raise OperationFailed(f"rehearse: the copy of backup {manifest.id} does not hold what its manifest says ("
                              + "; ".join(f"{c.name}: {c.detail}" for c in wrong) + "): nothing was rehearsed",
                              hint="take a new backup (pgwarden backup) and rehearse again")


def migrate_outcome(result: StepResult) -> MigrateOutcome:
    """What the deploy path's result says about the migrations: applied, the failed one, why, SQLSTATE."""
    details = result.details
    applied = [str(n) for n in details.get("applied") or []]
    if result.ok:
        return MigrateOutcome(applied=applied)
    pending = [str(n) for n in details.get("pending") or []]
    failed = details.get("failed_migration") or next((n for n in pending if n not in applied), None)
    attempts = details.get("attempts") or []
    last = attempts[-1] if attempts else {}
    error = str(details.get("error") or last.get("error") or result.summary)
    output = str(details.get("output") or "")
    state = last.get("sqlstate") or sqlstate_of(error, output)
    sqlstate = str(state) if state else None
    return MigrateOutcome(applied=applied, failed=failed, error=primary_message(error, output, sqlstate),
                          sqlstate=sqlstate)


#: What a deploy would still run, or refuse over (a failed or unfinished migration).
_NOT_APPLIED = frozenset({MigrationStatus.PENDING, MigrationStatus.FAILED, MigrationStatus.UNKNOWN})


def _pending_on_target(tool: MigrationTool, target: DatabaseTarget, say: Progress) -> list[str] | None:
    """What is pending on the target (or left failed there), read over a read-only session from the
    history and the files (not ``tool.pending``, which may render SQL through the tool: Laravel's
    ``--pretend``); None when it cannot tell (then the copy says, after the restore)."""
    try:
        with connect(target, options="-c default_transaction_read_only=on") as conn:
            return [m.name for m in tool.migrations(conn) if m.status in _NOT_APPLIED]
    except (PgwardenError, psycopg.Error) as exc:
        say(f"rehearse: could not read what is pending on the target ({redact(str(exc))}); the copy will tell")
        return None


def _space(target: DatabaseTarget, server: DatabaseTarget) -> str:
    """Check the copy fits on its server (a refusal when it does not); what was found, for the progress."""
    try:
        with connect(target, options="-c default_transaction_read_only=on") as conn:
            need = space_need(conn)
        with connection(server) as conn:
            free, where = free_bytes(conn, server)
            left = databases_named_like(conn, SCRATCH_PREFIX)
    except psycopg.Error as exc:
        return f"the copy's size and the server's free space could not be read: {primary_message(str(exc))}"
    found = refuse_short_space(need.copy_bytes, free, where, need.largest_table)
    if left:
        # Not dropped here: one may be another rehearsal's, running now (two pull requests at once).
        found += ("; scratch copies on this server, left by a rehearsal that was killed or still running: "
                  + ", ".join(f"{name} ({sessions} session(s) now)" for name, sessions in left)
                  + ": they hold production data, drop those no rehearsal is using (DROP DATABASE name)")
    return found


def _drop(server: DatabaseTarget, scratch: str, say: Progress) -> bool:
    """Drop the scratch database (forcing out its sessions); False, loudly, when it could not."""
    try:
        with connection(server) as conn:
            major, _ = server_version(conn)
            drop = "drop database if exists {} with (force)" if major >= 13 else "drop database if exists {}"
            conn.execute(pgsql.SQL(drop).format(pgsql.Identifier(scratch)))
    except (PgwardenError, psycopg.Error) as exc:
        say(f"rehearse: the scratch database {scratch} could NOT be dropped ({redact(str(exc))}); it holds a copy "
            f"of production data: drop it by hand (DROP DATABASE {scratch})")
        return False
    say(f"rehearse: dropped the scratch database {scratch}")
    return True


@dataclass
class _Report:
    """The report's fields known before the copy exists, and the figures measured on it."""

    manifest: BackupManifest
    identity: DatabaseIdentity
    tool: MigrationTool
    settings: Settings
    restore_s: float = 0.0
    migrate_s: float = 0.0
    rehearsed_at: str = ""

    def build(self, *, scratch: str, dropped: bool, migrations: list[RehearsedMigration],
              server: str) -> RehearsalReport:
        return RehearsalReport(
            version=REHEARSAL_VERSION, backup_id=self.manifest.id, scratch_database=scratch, dropped=dropped,
            migrations=migrations, database=self.identity.database, server=redact(server),
            backup_taken_at=self.manifest.created_at,
            rehearsed_at=self.rehearsed_at, restore_s=self.restore_s, migrate_s=self.migrate_s,
            sample_interval_s=self.settings.rehearsal.sample_interval, tool=self.tool.name)
