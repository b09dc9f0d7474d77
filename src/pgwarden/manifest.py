"""The backup manifest: what a backup is, as stored next to it in ``manifest.json``.

Pure data and pure decisions (no I/O): ids, (de)serialisation, which database a backup is of
(:class:`DatabaseIdentity`: its name and the server's ``system_identifier``) and whether it is the
one being restored or deployed (:func:`match_backup`), "which backup is the newest verified one of
this database", and the retention policy used by ``backups prune``, per database. A backup without
a complete manifest with ``verified: true`` does not exist for ``deploy`` and ``restore latest``.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import secrets
from collections.abc import Iterable
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


@dataclass(frozen=True)
class DatabaseIdentity:
    """Which database a backup is of, or a command works on: its name and its server.

    ``system_identifier`` tells servers apart (two clusters, each with a database ``shop``);
    None when unknown (an old manifest, or a role not allowed to call ``pg_control_system()``).
    ``where`` is only for messages.
    """

    database: str
    system_identifier: str | None = None
    where: str = ""

    def label(self) -> str:
        """``'shop' on server 7714503774339023358``, or ``'shop'`` when the server is not known."""
        return repr(self.database) + (f" on server {self.system_identifier}" if self.system_identifier else "")

    def describe(self) -> str:
        """:meth:`label` and where it was read: ``database 'shop' on server 77... (postgres@db1:5432/shop)``."""
        return f"database {self.label()}" + (f" ({self.where})" if self.where else "")


class Match(enum.Enum):
    """How a backup relates to the database a command works on."""

    SAME = "same"  #: same name, same server
    UNKNOWN_SERVER = "unknown-server"  #: same name; one side does not know its server
    OTHER_SERVER = "other-server"  #: same name, another server's
    OTHER_DATABASE = "other-database"  #: another name

    @property
    def ours(self) -> bool:
        """Taken by default: a backup of this database (or of this name, server not recorded)."""
        return self in (Match.SAME, Match.UNKNOWN_SERVER)


def match_backup(manifest: BackupManifest, identity: DatabaseIdentity) -> Match:
    if manifest.database != identity.database:
        return Match.OTHER_DATABASE
    if manifest.system_identifier is None or identity.system_identifier is None:
        return Match.UNKNOWN_SERVER
    return Match.SAME if manifest.system_identifier == identity.system_identifier else Match.OTHER_SERVER


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
    #: ``pg_control_system().system_identifier`` of the server dumped (a string: it is a 64-bit
    #: number); None in manifests written before pgwarden recorded it, or when the role could not read it.
    system_identifier: str | None = None
    #: where the backup was taken from, as printed (``user@host:port/db``, never a password)
    origin: str = ""
    version: int = MANIFEST_VERSION

    @property
    def created(self) -> dt.datetime:
        return parse_iso(self.created_at)

    def age_s(self, now: dt.datetime | None = None) -> float:
        return ((now or dt.datetime.now(dt.timezone.utc)) - self.created).total_seconds()

    @property
    def identity(self) -> DatabaseIdentity:
        return DatabaseIdentity(self.database, self.system_identifier, self.origin)

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


def latest_verified(
    manifests: Iterable[BackupManifest], identity: DatabaseIdentity | None = None, *, any_server: bool = False
) -> BackupManifest | None:
    """The newest verified backup; with ``identity`` the newest of that database (``any_server``:
    of that name, on whichever server)."""
    for manifest in newest_first(list(manifests)):
        if not manifest.verified:
            continue
        if identity is not None:
            found = match_backup(manifest, identity)
            if not (found.ours or (any_server and found is Match.OTHER_SERVER)):
                continue
        return manifest
    return None


def by_database(manifests: Iterable[BackupManifest]) -> dict[DatabaseIdentity, list[BackupManifest]]:
    """The manifests per database they are of (name and server), each list newest first, the
    database with the newest backup first.

    A manifest without a server (written by an older pgwarden) belongs to the only known server
    of its name; it is a database of its own only when its name has no or several known servers.
    """
    ordered = newest_first(list(manifests))
    servers: dict[str, set[str]] = {}
    for m in ordered:
        if m.system_identifier is not None:
            servers.setdefault(m.database, set()).add(m.system_identifier)
    keys: dict[tuple[str, str | None], DatabaseIdentity] = {}
    groups: dict[DatabaseIdentity, list[BackupManifest]] = {}
    for m in ordered:
        known = servers.get(m.database, set())
        server = next(iter(known)) if m.system_identifier is None and len(known) == 1 else m.system_identifier
        identity = keys.setdefault((m.database, server), DatabaseIdentity(m.database, server, m.origin))
        groups.setdefault(identity, []).append(m)
    return groups


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
    damaged: dict[str, str] | None = None,
) -> PruneDecision:
    """Retention, per database (:func:`by_database`): keep the newest ``keep_last`` good backups and
    everything younger than ``days``.

    A good backup is verified and not in ``damaged`` (id -> what is wrong with its files, as the
    caller found by looking at the store: the ``verified`` flag alone is not trusted). Each
    database's newest good backup is never deleted, whatever the policy says and however new
    other databases' backups are. Incomplete backups (files without a manifest: interrupted runs)
    are deleted once older than the grace period, so a backup still being written is never pulled
    from under its writer.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    broken = damaged or {}
    decision = PruneDecision()
    for group in by_database(manifests).values():
        _prune_one_database(group, decision, broken, days=days, keep_last=keep_last, now=now)
    for backup_id in incomplete:
        moment = backup_id_time(backup_id)
        if moment is not None and (now - moment).total_seconds() > incomplete_grace_s:
            decision.delete.append(backup_id)
            decision.reasons[backup_id] = "incomplete (interrupted backup, no manifest)"
        else:
            decision.keep.append(backup_id)
            decision.reasons[backup_id] = "incomplete but recent (may still be running)"
    return decision


def _prune_one_database(group: list[BackupManifest], decision: PruneDecision, broken: dict[str, str], *,
                        days: int | None, keep_last: int, now: dt.datetime) -> None:
    """``group``: one database's backups, newest first."""
    good = [m for m in group if m.verified and m.id not in broken]
    newest = good[0] if good else None
    counted = {m.id for m in good[:keep_last]}
    for manifest in group:
        age_days = manifest.age_s(now) / 86400.0
        flaw = ("unverified" if not manifest.verified else
                f"damaged: {broken[manifest.id]}" if manifest.id in broken else "")
        if newest is not None and manifest.id == newest.id:
            keep, why = True, f"newest good backup of {manifest.database} (never pruned)"
        elif manifest.id in counted:
            keep, why = True, f"one of the newest {keep_last} good backups (keep_last)"
        elif days is not None and age_days <= days:
            keep, why = True, f"younger than {days} days"
        else:
            keep = False
            why = f"{age_days:.1f} days old" if days is not None else "beyond keep_last"
        why += f", {flaw}" if flaw else ""
        (decision.keep if keep else decision.delete).append(manifest.id)
        decision.reasons[manifest.id] = why
