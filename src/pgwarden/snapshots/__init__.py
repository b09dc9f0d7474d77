"""Managed snapshots, taken next to the logical dump: the ``Snapshotter`` port and its registry.

A snapshot is an *addition* to a verified pg_dump backup (recorded in its manifest), never a
replacement: it restores a whole instance fast, the dump restores anywhere. Restoring a
snapshot always creates a new instance or cluster; the original is never modified.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from pgwarden.config import SNAPSHOT_PROVIDERS, Settings
from pgwarden.errors import ConfigError
from pgwarden.records import Progress


class Snapshotter(Protocol):
    provider: str

    def create(self, name: str, tags: dict[str, str], say: Progress) -> dict[str, Any]:
        """Create a snapshot, wait (bounded) until it is usable; its description for the manifest."""
        ...

    def restore(self, snapshot: dict[str, Any], new_name: str, say: Progress) -> dict[str, Any]:
        """Restore into a new instance/cluster named ``new_name``; wait; describe it (endpoint)."""
        ...


def get_snapshotter(settings: Settings) -> Snapshotter:
    config = settings.backup.snapshot
    where = settings.source or "pgwarden.yml"
    if config.provider in SNAPSHOT_PROVIDERS:
        from pgwarden.snapshots.rds import RdsSnapshotter

        if config.provider == "rds" and not config.instance:
            raise ConfigError(f"{where}: backup.snapshot.instance: expected the RDS instance identifier")
        if config.provider == "aurora" and not config.cluster:
            raise ConfigError(f"{where}: backup.snapshot.cluster: expected the Aurora cluster identifier")
        return RdsSnapshotter(config)
    # Config validation already refused any other provider read from a file; this is for
    # Settings built in code.
    raise ConfigError(
        f"{where}: backup.snapshot.provider: expected rds or aurora (neon branches are not supported by "
        f"this pgwarden version), got {config.provider!r}"
    )


def snapshot_name(backup_id: str) -> str:
    """RDS identifiers: letters, digits and single hyphens, starting with a letter."""
    return "pgwarden-" + backup_id.lower().replace("_", "-")


def take_snapshot(settings: Settings, backup_id: str, run_id: str | None, say: Progress) -> dict[str, Any]:
    tags = {"pgwarden:backup-id": backup_id, "pgwarden:run-id": run_id or "local"}
    return get_snapshotter(settings).create(snapshot_name(backup_id), tags, say)


def restore_snapshot(settings: Settings, snapshot: dict[str, Any], new_name: str, say: Progress) -> dict[str, Any]:
    """Restore with the provider and region recorded in the manifest.

    A responder restoring at 3 a.m. may run with a config whose ``backup.snapshot`` section is
    absent or names another instance: the source identifier is not needed to restore, and the
    config only contributes the endpoint, timeout and (when set) the region.
    """
    config = settings.backup.snapshot
    provider = str(snapshot.get("provider") or config.provider or "")
    if provider not in SNAPSHOT_PROVIDERS:
        where = settings.source or "pgwarden.yml"
        raise ConfigError(f"{where}: the backup's snapshot was taken with provider {provider!r}; "
                          "this pgwarden version restores rds and aurora snapshots only")
    from pgwarden.snapshots.rds import RdsSnapshotter

    recorded = dataclasses.replace(config, provider=provider, region=config.region or snapshot.get("region"))
    return RdsSnapshotter(recorded).restore(snapshot, new_name, say)
