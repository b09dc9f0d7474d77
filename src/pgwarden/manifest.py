"""The backup manifest: what a backup is, as stored next to it in ``manifest.json``.

Pure data and pure decisions (no I/O): ids, (de)serialisation, "which backup is the newest
verified one", and the retention policy used by ``backups prune``. A backup without a
complete manifest with ``verified: true`` does not exist for ``deploy`` and ``restore latest``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_ID_FORMAT = "%Y%m%dT%H%M%SZ"


def new_backup_id(now: dt.datetime | None = None) -> str:
    """Sortable and time-based: ``20261122T101500Z-ab12cd`` (UTC, then 6 random hex digits)."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return f"{moment.strftime(_ID_FORMAT)}-{secrets.token_hex(3)}"


def backup_id_time(backup_id: str) -> dt.datetime | None:
    """The UTC time encoded in a backup id, or None when it is not one of ours."""
    try:
        return dt.datetime.strptime(backup_id.split("-", 1)[0], _ID_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def utc_now_iso(now: dt.datetime | None = None) -> str:
    """ISO 8601 UTC with milliseconds: two backups in one second still sort correctly."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass
class BackupFile:
    """One stored file of a backup; ``sha256`` is of the bytes as stored (after compression)."""

    name: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}

    def __getitem__(self, key: str) -> Any:
        """``file["sha256"]`` works too: the manifest contract describes files as mappings."""
        if key not in ("name", "size", "sha256"):
            raise KeyError(key)
        return getattr(self, key)


@dataclass
class BackupManifest:
    """Everything needed to trust, find and restore one backup."""

    id: str
    created_at: str
    database: str
    server_version: str
    pg_dump_version: str
    format: str  # custom | directory
    compression: str  # zstd[:level] (outside pg_dump) | gzip[:level] | lz4 | none (inside pg_dump)
    files: list[BackupFile] = field(default_factory=list)
    size_bytes: int = 0
    duration_s: float = 0.0
    #: "schema.table" -> rows: exact (counted in the dump's own snapshot) or the planner estimate.
    tables: dict[str, int] = field(default_factory=dict)
    #: The tables of ``tables`` whose count is exact; the others are estimates.
    exact_tables: list[str] = field(default_factory=list)
    migration_head: str | None = None
    git_sha: str | None = None
    run_id: str | None = None
    store: str = ""
    snapshot: dict[str, Any] | None = None
    verified: bool = False
    verification: str = ""
    uncompressed_bytes: int = 0
    version: int = MANIFEST_VERSION

    @property
    def created(self) -> dt.datetime:
        return parse_iso(self.created_at)

    def age_s(self, now: dt.datetime | None = None) -> float:
        return ((now or dt.datetime.now(dt.timezone.utc)) - self.created).total_seconds()

    @property
    def server_major(self) -> int:
        return int(self.server_version.split(".")[0])

    @property
    def pg_dump_major(self) -> int:
        return int(self.pg_dump_version.split(".")[0])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [f.to_json() for f in self.files]
        data["duration_s"] = round(self.duration_s, 3)
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackupManifest:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["files"] = [BackupFile(**{k: f[k] for k in ("name", "size", "sha256")}) for f in data.get("files", [])]
        return cls(**values)

    @classmethod
    def loads(cls, text: str | bytes) -> BackupManifest:
        return cls.from_json(json.loads(text))


def newest_first(manifests: list[BackupManifest]) -> list[BackupManifest]:
    return sorted(manifests, key=lambda m: (m.created, m.id), reverse=True)


def latest_verified(manifests: list[BackupManifest]) -> BackupManifest | None:
    for manifest in newest_first(manifests):
        if manifest.verified:
            return manifest
    return None


@dataclass
class PruneDecision:
    """What ``backups prune`` deletes and keeps, and why (one reason per id)."""

    delete: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def decide_prune(
    manifests: list[BackupManifest],
    incomplete: list[str],
    *,
    days: int | None,
    keep_last: int,
    now: dt.datetime | None = None,
    incomplete_grace_s: float = 24 * 3600.0,
) -> PruneDecision:
    """Retention: keep the newest ``keep_last`` and everything younger than ``days``.

    The newest verified backup is never deleted, whatever the policy says. Incomplete backups
    (files without a manifest: interrupted runs) are deleted once older than the grace period,
    so a backup still being written is never pulled from under its writer.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    decision = PruneDecision()
    newest = latest_verified(manifests)
    for index, manifest in enumerate(newest_first(manifests)):
        age_days = manifest.age_s(now) / 86400.0
        if newest is not None and manifest.id == newest.id:
            decision.keep.append(manifest.id)
            decision.reasons[manifest.id] = "newest verified backup (never pruned)"
        elif index < keep_last:
            decision.keep.append(manifest.id)
            decision.reasons[manifest.id] = f"one of the newest {keep_last} (keep_last)"
        elif days is not None and age_days <= days:
            decision.keep.append(manifest.id)
            decision.reasons[manifest.id] = f"younger than {days} days"
        else:
            decision.delete.append(manifest.id)
            why = f"{age_days:.1f} days old" if days is not None else "beyond keep_last"
            decision.reasons[manifest.id] = why + (", unverified" if not manifest.verified else "")
    for backup_id in incomplete:
        moment = backup_id_time(backup_id)
        if moment is not None and (now - moment).total_seconds() > incomplete_grace_s:
            decision.delete.append(backup_id)
            decision.reasons[backup_id] = "incomplete (interrupted backup, no manifest)"
        else:
            decision.keep.append(backup_id)
            decision.reasons[backup_id] = "incomplete but recent (may still be running)"
    return decision
