"""``backups list|show|prune``: reading a store's backups and applying the retention policy.

The retention decision itself is pure (:func:`pgwarden.manifest.decide_prune`, per database);
this module looks at the store for what the decision must not take on trust (is each verified
backup's every file still there with its size, and with ``backup.verify_before_deploy: checksum``
does the backup kept as a database's newest good one still read back with its sha256), applies
the decision and reports exactly what it deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pgwarden.config import Settings
from pgwarden.errors import OperationFailed
from pgwarden.manifest import BackupManifest, by_database, decide_prune, latest_verified
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.identity import read_identity
from pgwarden.pipeline.restore_source import resolve_backup
from pgwarden.records import Progress
from pgwarden.stores import BackupStore, open_store
from pgwarden.stores.transfer import read_checked


@dataclass
class Listing:
    store: str
    backups: list[BackupManifest]
    incomplete: list[str]

    def to_json(self) -> dict[str, Any]:
        newest = latest_verified(self.backups)
        return {
            "version": 1,
            "store": self.store,
            "latest_verified": newest.id if newest else None,
            "databases": self.databases(),
            "backups": [m.to_json() for m in self.backups],
            "incomplete": self.incomplete,
        }

    def databases(self) -> list[dict[str, Any]]:
        """One entry per database the store holds backups of, with its newest verified backup."""
        return [
            {"database": who.database, "system_identifier": who.system_identifier,
             "latest_verified": next((m.id for m in found if m.verified), None), "backups": len(found)}
            for who, found in by_database(self.backups).items()
        ]


@dataclass
class PruneReport:
    store: str
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    #: verified backups whose files are not what their manifest says: id -> what is wrong
    damaged: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "store": self.store, "dry_run": self.dry_run, "deleted": self.deleted,
                "kept": self.kept, "reasons": self.reasons, "damaged": self.damaged}


def _store(settings: Settings, store_uri: str | None) -> BackupStore:
    return open_store(store_uri or settings.backup.store, settings)


def list_backups(settings: Settings, store_uri: str | None = None) -> Listing:
    store = _store(settings, store_uri)
    return Listing(store.uri, store.list_manifests(), store.incomplete_ids())


def show_backup(settings: Settings, backup_id: str, store_uri: str | None = None,
                target: DatabaseTarget | None = None) -> BackupManifest:
    """A backup's manifest; ``latest`` is ``target``'s database's newest (without a target, the
    store's newest, refused when the store holds backups of several databases)."""
    store = _store(settings, store_uri)
    if backup_id == "latest":
        return resolve_backup(store, backup_id, read_identity(target) if target is not None else None)
    return store.get_manifest(backup_id)


def find_damaged(store: BackupStore, manifests: list[BackupManifest], *, checksum: bool,
                 progress: Progress | None = None) -> dict[str, str]:
    """The verified backups that would not restore, id -> why: a file missing or of another size
    (every verified backup is looked at); with ``checksum``, also each database's newest
    backups read in full until one matches its sha256 (the one prune will keep)."""
    damaged: dict[str, str] = {}
    for manifest in manifests:
        if manifest.verified:
            problems = store.missing_files(manifest)
            if problems:
                damaged[manifest.id] = "; ".join(problems)
    if checksum:
        for found in by_database(manifests).values():
            for manifest in (m for m in found if m.verified and m.id not in damaged):
                if progress is not None:
                    progress(f"reading {manifest.id} to check its sha256 (backup.verify_before_deploy: checksum)")
                try:
                    for file in manifest.files:
                        read_checked(store, manifest.id, file, None, decompress=False)
                except OperationFailed as exc:
                    damaged[manifest.id] = exc.message
                    continue
                break
    for backup_id, why in damaged.items():
        if progress is not None:
            progress(f"backup {backup_id} is marked verified but would not restore: {why}")
    return damaged


def prune_backups(
    settings: Settings,
    store_uri: str | None = None,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> PruneReport:
    """Delete what retention (``backup.retention``) no longer keeps; never a database's newest good backup."""
    store = _store(settings, store_uri)
    retention = settings.backup.retention
    manifests = store.list_manifests()
    damaged = find_damaged(store, manifests, checksum=settings.backup.verify_before_deploy == "checksum",
                           progress=progress)
    decision = decide_prune(manifests, store.incomplete_ids(), days=retention.days, keep_last=retention.keep_last,
                            now=now, damaged=damaged)
    report = PruneReport(store.uri, dry_run, kept=decision.keep, reasons=decision.reasons, damaged=damaged)
    for who, found in by_database(manifests).items():
        if progress is not None and not any(m.verified and m.id not in damaged for m in found):
            progress(f"warning: no good backup of {who.describe()}: none is verified with its files intact")
    for backup_id in decision.delete:
        if not dry_run:
            store.delete_backup(backup_id)
        report.deleted.append(backup_id)
        if progress is not None:
            verb = "would delete" if dry_run else "deleted"
            progress(f"{verb} {backup_id} ({decision.reasons[backup_id]})")
    return report
