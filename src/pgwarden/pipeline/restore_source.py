"""Which backup a restore uses, and its bytes on local disk, checked, before anything connects.

:func:`resolve_backup` turns an id or ``latest`` into a manifest and refuses anything not
verified, or not of the target database (its name and server). :func:`fetch_archive` reads every
stored file in full (size, sha256, zstd frame) into scratch space, or checks a ``file://`` store's
file where it is; only an archive that passed all of that reaches pg_restore.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pgwarden.errors import OperationFailed, SafetyRefusal
from pgwarden.manifest import BackupManifest, DatabaseIdentity, by_database, latest_verified, match_backup
from pgwarden.records import Progress
from pgwarden.stores import BackupStore
from pgwarden.stores.transfer import read_checked
from pgwarden.units import format_bytes


def resolve_backup(
    store: BackupStore, backup_id: str, identity: DatabaseIdentity | None = None, *, allow_other_database: bool = False
) -> BackupManifest:
    """The manifest for an id or ``latest``; refuses anything not verified, or not of ``identity``'s
    database (unless ``allow_other_database``).

    ``latest`` is the newest verified backup of ``identity``'s database (with
    ``allow_other_database``: of its name, on any server). Without ``identity`` (nothing to compare
    with, e.g. ``backups show latest`` without a database URL) it is the newest verified backup of
    the store, refused when the store holds backups of several databases.
    """
    if backup_id == "latest":
        return _latest(store, identity, allow_other_database)
    manifest = store.get_manifest(backup_id)
    if not manifest.verified:
        raise SafetyRefusal(
            f"backup {backup_id} in {store.uri} is not verified ({manifest.verification or 'never checked'}): "
            "refusing to restore it",
            hint="pick a verified backup from pgwarden backups list",
        )
    if identity is not None and not allow_other_database and not match_backup(manifest, identity).ours:
        raise SafetyRefusal(
            f"backup {backup_id} is of {manifest.identity.describe()}, not of the target, "
            f"{identity.describe()}: refusing to use another database's backup",
            hint="pick a backup of this database from pgwarden backups list, or pass --allow-other-database "
            "to restore this one on purpose",
        )
    return manifest


def _latest(store: BackupStore, identity: DatabaseIdentity | None, any_server: bool) -> BackupManifest:
    manifests = store.list_manifests()
    verified = [m for m in manifests if m.verified]
    groups = by_database(verified)
    if identity is None and len(groups) > 1:
        names = "; ".join(f"{who.describe()}: {found[0].id}" for who, found in groups.items())
        raise SafetyRefusal(
            f"{store.uri} holds backups of {len(groups)} databases, so 'latest' names none of them ({names})",
            hint="give the database URL (--database-url or DATABASE_URL) to take its latest, or a backup id",
        )
    manifest = latest_verified(verified, identity, any_server=any_server)
    if manifest is not None:
        return manifest
    unverified = len(manifests) - len(verified)
    detail = f" ({unverified} unverified)" if unverified else ""
    hint = ("run pgwarden backup, or pass an explicit --backup-id after checking it with "
            "pgwarden backups show ID")
    others = ""
    if groups:
        others = "; the store holds backups of " + "; ".join(
            f"{who.describe()} (newest {found[0].id})" for who, found in groups.items())
        same_name = next((found[0] for who, found in groups.items() if identity and who.database == identity.database),
                         None)
        if same_name is not None:
            hint = (f"if this server replaces the one that backup was taken on, restore it on purpose: "
                    f"--backup-id {same_name.id} --allow-other-database")
        else:
            hint = "to restore another database's backup on purpose: --backup-id ID --allow-other-database"
    whose = f" of {identity.describe()}" if identity is not None else ""
    raise SafetyRefusal(f"no verified backup{whose} in {store.uri}{detail}: refusing to restore 'latest'{others}",
                        hint=hint)


@dataclass
class FetchedArchive:
    path: Path
    workdir: Path | None
    stored_bytes: int
    seconds: float
    #: a zstd-compressed custom archive, decompressed while it streams into pg_restore
    compressed: bool = False

    def cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


SCRATCH_HINT = "free space there, or point PGWARDEN_TMPDIR at a bigger disk, and run the restore again"


class ScratchFile:
    """A file of the scratch copy: a failed write says it was the scratch disk, not the store."""

    def __init__(self, path: Path, backup_id: str) -> None:
        self.path = path
        self.backup_id = backup_id
        self._fh: BinaryIO | None = None

    def _failed(self, exc: OSError) -> OperationFailed:
        return OperationFailed(
            f"writing the scratch copy of backup {self.backup_id} to {self.path} failed: "
            f"{exc.strerror or exc}; the backup in the store is fine and the database was not touched",
            hint=SCRATCH_HINT,
        )

    def __enter__(self) -> ScratchFile:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "wb")
        except OSError as exc:
            raise self._failed(exc) from None
        return self

    def write(self, data: bytes) -> None:
        assert self._fh is not None
        try:
            self._fh.write(data)
        except OSError as exc:
            raise self._failed(exc) from None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._fh is not None
        try:
            self._fh.close()  # flushes: a full disk can fail here too
        except OSError as error:
            if kind is None:
                raise self._failed(error) from None


def fetch_archive(store: BackupStore, manifest: BackupManifest, say: Progress) -> FetchedArchive:
    """Read every file of the backup, check it, and leave a restorable archive on local disk."""
    started = time.monotonic()
    outside = manifest.compression.startswith("zstd")
    if manifest.format == "custom":
        local = store.local_path(manifest.id, manifest.files[0].name)
        if local is not None:
            # A file in a file:// store: check it where it is, no copy needed.
            read_checked(store, manifest.id, manifest.files[0], None, decompress=False)
            return FetchedArchive(local, None, manifest.files[0].size, time.monotonic() - started, outside)
    # Custom archives are fetched as stored (compressed); directory archives are unpacked.
    need = manifest.size_bytes if manifest.format == "custom" else max(manifest.uncompressed_bytes,
                                                                        manifest.size_bytes)
    scratch_root = os.environ.get("PGWARDEN_TMPDIR") or tempfile.gettempdir()
    try:
        workdir = Path(tempfile.mkdtemp(prefix="pgwarden-restore-", dir=scratch_root))
    except OSError as exc:
        raise OperationFailed(
            f"cannot create a scratch folder in {scratch_root} to unpack backup {manifest.id}: "
            f"{exc.strerror or exc}; the database was not touched", hint=SCRATCH_HINT) from None
    free = shutil.disk_usage(workdir).free
    if free < need * 1.05:
        shutil.rmtree(workdir, ignore_errors=True)
        raise OperationFailed(
            f"not enough scratch space in {workdir.parent} to unpack backup {manifest.id}: "
            f"needs {format_bytes(need)}, {format_bytes(free)} free; the database was not touched",
            hint="point PGWARDEN_TMPDIR at a bigger disk",
        )
    try:
        stored = 0
        unpack = outside and manifest.format == "directory"
        for file in manifest.files:
            plain_name = file.name[: -len(".zst")] if unpack and file.name.endswith(".zst") else file.name
            with ScratchFile(workdir / plain_name, manifest.id) as out:
                stored += read_checked(store, manifest.id, file, out.write, decompress=unpack).stored_bytes
        if manifest.format == "directory":
            return FetchedArchive(workdir / manifest.files[0].name.split("/", 1)[0], workdir, stored,
                                  time.monotonic() - started)
        path = workdir / manifest.files[0].name
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return FetchedArchive(path, workdir, stored, time.monotonic() - started, outside)
