"""The preconditions of a deploy: each one passes, or refuses (exit 4) before anything runs.

- no destructive command in a protected environment (:func:`refuse_forbidden_commands`);
- a verified, recent backup of this database (its name and server), or ``--no-backup --reason``
  (:func:`require_backup`, whose decision is the pure :func:`choose_backup` over the store's
  manifests), whose files are still in the store (:func:`recheck_backup`: sizes, or sha256 by config);
- no failed migration in the tool's history (:func:`refuse_failed_state`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from pgwarden.config import Settings
from pgwarden.durations import format_duration
from pgwarden.errors import ConfigError, OperationFailed, SafetyRefusal
from pgwarden.guards import find_forbidden, is_protected
from pgwarden.manifest import BackupManifest, DatabaseIdentity, by_database, latest_verified, match_backup
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.identity import read_identity
from pgwarden.records import Check, Progress
from pgwarden.stores import BackupStore, open_store
from pgwarden.stores.transfer import read_checked
from pgwarden.tools.base import MigrationTool
from pgwarden.units import format_bytes

# --- destructive commands ---------------------------------------------------------------------


def configured_commands(settings: Settings, tool: MigrationTool) -> dict[str, str | None]:
    """Every shell command a deploy would run, keyed by where it is configured."""
    hooks = settings.deploy.hooks
    command = settings.migrations.command or tool.command()
    return {
        "migrations.command" if settings.migrations.command else f"the {tool.name} command": command,
        "deploy.hooks.pre": hooks.pre,
        "deploy.hooks.post": hooks.post,
        "deploy.hooks.on_failure": hooks.on_failure,
    }


def refuse_forbidden_commands(settings: Settings, tool: MigrationTool, environment: str | None) -> Check:
    """In a protected environment, refuse any configured command that destroys data."""
    protected = is_protected(environment, settings.deploy.protected_environments)
    uses = find_forbidden(configured_commands(settings, tool))
    if not uses:
        return Check("no destructive command configured", True, "")
    listing = "; ".join(use.message() for use in uses)
    if protected:
        raise SafetyRefusal(
            f"refusing to deploy to the protected environment {environment!r}: {listing}",
            hint="use the tool's non-destructive deploy command (prisma migrate deploy, artisan migrate "
            "--force, alembic upgrade head); deploy.protected_environments lists the protected names",
        )
    return Check("no destructive command configured", False,
                 f"allowed outside protected environments: {listing}", warning=True)


# --- the backup -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupChoice:
    """The backup a deploy can be restored from; ``backup_id`` None for ``--no-backup``."""

    backup_id: str | None
    description: str
    manifest: BackupManifest | None = None

    @property
    def no_backup_reason(self) -> str | None:
        if self.backup_id is not None:
            return None
        return self.description.removeprefix("no backup: ")


def choose_backup(
    manifests: Sequence[BackupManifest],
    *,
    database: str,
    max_age_s: float,
    backup_id: str | None = None,
    store_uri: str = "the backup store",
    now: dt.datetime | None = None,
    system_identifier: str | None = None,
    where: str = "",
    allow_other_database: bool = False,
) -> BackupChoice:
    """The verified backup of ``database`` a deploy may use, or a :class:`SafetyRefusal` saying why none.

    ``manifests`` are the store's, newest first. With ``backup_id`` that backup must be among
    them and be usable; without, the newest verified backup of ``database`` is taken. Either way
    it must be of ``database`` on this server (``system_identifier``, when both it and the backup
    record one), verified, and at most ``max_age_s`` old at ``now``: an older one would lose
    everything written since. ``allow_other_database`` accepts a backup asked for by id of any
    database, and by default the newest of this name on another server (a replaced server).
    """
    identity = DatabaseIdentity(database, system_identifier, where)
    if backup_id:
        chosen = next((m for m in manifests if m.id == backup_id), None)
        if chosen is None:
            raise SafetyRefusal(f"no verified backup to deploy with: backup {backup_id} not found in {store_uri}")
    else:
        found = latest_verified(manifests, identity, any_server=allow_other_database)
        if found is None:
            others = by_database(m for m in manifests if m.verified)
            detail = ("; the store holds verified backups of " + "; ".join(
                f"{who.describe()} (newest {theirs[0].id})" for who, theirs in others.items())) if others else ""
            raise SafetyRefusal(
                f"no verified backup of {database}"
                + (f" on server {system_identifier}" if system_identifier else "") + f" in {store_uri}{detail}",
                hint="run `pgwarden backup` first and pass --backup-id, or deploy with --no-backup --reason TEXT",
            )
        chosen = found
    if not match_backup(chosen, identity).ours and not allow_other_database:
        raise SafetyRefusal(
            f"backup {chosen.id} is of database {chosen.identity.label()}, not of {identity.label()}"
            + (f" ({where})" if where else ""),
            hint="take a backup of the database you deploy to (or pass --allow-other-database to deploy with "
            "this one on purpose)",
        )
    if not chosen.verified:
        raise SafetyRefusal(
            f"backup {chosen.id} is not verified ({chosen.verification or 'verification did not pass'})",
            hint="take a new backup; deploy only trusts a backup whose archive and checksums were verified",
        )
    age = chosen.age_s(now)
    if age > max_age_s:
        raise SafetyRefusal(
            f"backup {chosen.id} is {format_duration(age)} old, older than backup.max_age "
            f"{format_duration(max_age_s)}: it would lose everything written since",
            hint="take a fresh backup for this deploy",
        )
    return BackupChoice(chosen.id, f"{chosen.id} ({format_duration(age)} old, verified)", chosen)


def require_backup(
    settings: Settings, target: DatabaseTarget, backup_id: str | None, no_backup_reason: str | None, *,
    allow_other_database: bool = False, say: Progress | None = None,
) -> BackupChoice:
    """The verified backup of this database this deploy can be restored from, its files re-checked in
    the store (:func:`recheck_backup`), or a refusal."""
    if no_backup_reason is not None:
        if not no_backup_reason.strip():
            raise ConfigError("--no-backup needs --reason TEXT saying why deploying without a backup is acceptable")
        return BackupChoice(None, f"no backup: {no_backup_reason.strip()}")
    store = open_store(settings.backup.store, settings)
    if backup_id:
        # Read the one manifest asked for: the store's own error names the newest backups there.
        try:
            manifests = [store.get_manifest(backup_id)]
        except OperationFailed as exc:
            raise SafetyRefusal(f"no verified backup to deploy with: {exc.message}", hint=exc.hint) from None
    else:
        manifests = store.list_manifests()
    # By name first: what the store alone refuses is refused without connecting to the database.
    choose_backup(manifests, database=target.dbname, max_age_s=settings.backup.max_age, backup_id=backup_id,
                  store_uri=store.uri, allow_other_database=allow_other_database)
    identity = read_identity(target)
    choice = choose_backup(manifests, database=identity.database, max_age_s=settings.backup.max_age,
                           backup_id=backup_id, store_uri=store.uri, system_identifier=identity.system_identifier,
                           where=identity.where, allow_other_database=allow_other_database)
    assert choice.manifest is not None
    checked = recheck_backup(store, choice.manifest, checksum=settings.backup.verify_before_deploy == "checksum",
                             say=say)
    return BackupChoice(choice.backup_id, f"{choice.description}; {checked}", choice.manifest)


def recheck_backup(store: BackupStore, manifest: BackupManifest, *, checksum: bool, say: Progress | None = None) -> str:
    """Re-check, now, that the backup's files are still in the store as the manifest lists them: each
    one there with its size, and with ``checksum`` (``backup.verify_before_deploy: checksum``) read in
    full with its sha256. The manifest's ``verified`` only says how the files were when it was written:
    since then they may have been deleted, replaced or damaged (or the flag hand-edited). A summary,
    or a refusal naming what is wrong."""
    hint = "take a new backup (pgwarden backup) and deploy with it; this one would not restore"
    try:
        problems = store.missing_files(manifest)
        if problems:
            raise SafetyRefusal(f"backup {manifest.id} in {store.uri} cannot be restored: {'; '.join(problems)}; "
                                "nothing was deployed", hint=hint)
        if not checksum:
            return f"{len(manifest.files)} file(s) in the store with their sizes"
        if say is not None:
            say(f"reading backup {manifest.id} ({format_bytes(manifest.size_bytes)}) to check its sha256 "
                "(backup.verify_before_deploy: checksum)")
        for file in manifest.files:
            read_checked(store, manifest.id, file, None, decompress=False)
    except OperationFailed as exc:
        raise SafetyRefusal(f"backup {manifest.id} could not be re-checked: {exc.message}; nothing was deployed",
                            hint=exc.hint or hint) from None
    return f"{len(manifest.files)} file(s) re-read from the store, sizes and sha256 match"


# --- the tool's history -----------------------------------------------------------------------


def refuse_failed_state(tool: MigrationTool, conn: psycopg.Connection[Any], allow: bool) -> Check:
    """Refuse while the tool's history records a failed migration (unless ``allow``)."""
    failed = tool.failed(conn)
    if not failed:
        return Check("no failed migration in the history", True, "")
    names = ", ".join(m.name for m in failed)
    if allow:
        return Check("no failed migration in the history", False,
                     f"{names} (continuing: --allow-failed-state)", warning=True)
    hint = tool.resolve_hint(failed[0].name)
    raise SafetyRefusal(
        f"the {tool.name} history records a failed migration: {names}; its changes may be half applied",
        hint=(hint + "; " if hint else "") + "or pass --allow-failed-state once you know the state is sound",
    )
