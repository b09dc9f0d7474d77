"""``backups list|show|prune``: reading a store's backups and applying the retention policy.

The retention decision itself is pure (:func:`pgwarden.manifest.decide_prune`); this module
only loads the store, applies the decision and reports exactly what it deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pgwarden.config import Settings
from pgwarden.manifest import BackupManifest, decide_prune, latest_verified
from pgwarden.pipeline.restore_source import resolve_backup
from pgwarden.records import Progress
from pgwarden.stores import BackupStore, open_store


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
            "backups": [m.to_json() for m in self.backups],
            "incomplete": self.incomplete,
        }


@dataclass
class PruneReport:
    store: str
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "store": self.store, "dry_run": self.dry_run, "deleted": self.deleted,
                "kept": self.kept, "reasons": self.reasons}


def _store(settings: Settings, store_uri: str | None) -> BackupStore:
    return open_store(store_uri or settings.backup.store, settings)


def list_backups(settings: Settings, store_uri: str | None = None) -> Listing:
    store = _store(settings, store_uri)
    return Listing(store.uri, store.list_manifests(), store.incomplete_ids())


def show_backup(settings: Settings, backup_id: str, store_uri: str | None = None) -> BackupManifest:
    store = _store(settings, store_uri)
    if backup_id == "latest":
        return resolve_backup(store, backup_id)
    return store.get_manifest(backup_id)


def prune_backups(
    settings: Settings,
    store_uri: str | None = None,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> PruneReport:
    """Delete what retention (``backup.retention``) no longer keeps; never the newest verified."""
    store = _store(settings, store_uri)
    retention = settings.backup.retention
    decision = decide_prune(
        store.list_manifests(), store.incomplete_ids(), days=retention.days, keep_last=retention.keep_last, now=now
    )
    report = PruneReport(store.uri, dry_run, kept=decision.keep, reasons=decision.reasons)
    for backup_id in decision.delete:
        if not dry_run:
            store.delete_backup(backup_id)
        report.deleted.append(backup_id)
        if progress is not None:
            verb = "would delete" if dry_run else "deleted"
            progress(f"{verb} {backup_id} ({decision.reasons[backup_id]})")
    return report
