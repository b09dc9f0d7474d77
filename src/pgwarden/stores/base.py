"""The storage ports: :class:`ObjectStore` (bytes under keys) and :class:`BackupStore` (backups).

An object store only moves bytes (file:// and s3:// implement it, see ``local.py`` and
``s3.py``). :class:`BackupStore` adds what a *backup* means on top of any object store:
``<backup id>/<file>`` keys, ``manifest.json`` written last, and the rule that only a
backup with a complete manifest is listed. Writers publish atomically (``commit``) or leave
nothing behind (``abort``), so an interrupted backup never looks like a finished one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO, Protocol

from pgwarden.errors import OperationFailed
from pgwarden.manifest import MANIFEST_NAME, BackupManifest, DatabaseIdentity, latest_verified, newest_first


class ObjectWriter(Protocol):
    """A stream being written to one key; visible under that key only after ``commit``."""

    def write(self, data: bytes) -> int: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class ObjectStore(Protocol):
    """Bytes under ``/``-separated keys."""

    uri: str

    def open_writer(self, key: str) -> ObjectWriter: ...

    def open_reader(self, key: str) -> BinaryIO:
        """A stream of the object's bytes; OperationFailed when it does not exist."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def list_dirs(self) -> list[str]:
        """The first path component of every key (the backup ids, complete or not)."""
        ...

    def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every object under ``prefix/``."""
        ...

    def delete_prefix(self, prefix: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """A local file holding the key, when the store is a folder (lets pg_restore read it)."""
        ...


class BackupStore:
    """Backups in an object store: ``<id>/manifest.json`` plus the files it lists."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    @property
    def uri(self) -> str:
        return self.objects.uri

    def key(self, backup_id: str, name: str) -> str:
        return f"{backup_id}/{name}"

    def open_writer(self, backup_id: str, name: str) -> ObjectWriter:
        return self.objects.open_writer(self.key(backup_id, name))

    def open_reader(self, backup_id: str, name: str) -> BinaryIO:
        return self.objects.open_reader(self.key(backup_id, name))

    def local_path(self, backup_id: str, name: str) -> Path | None:
        return self.objects.local_path(self.key(backup_id, name))

    def write_manifest(self, manifest: BackupManifest) -> None:
        """Publish the manifest: the moment the backup starts to exist.

        A failed write (a full disk, an S3 outage) leaves no manifest, so the backup stays
        incomplete: never listed, never restored; the other backups are untouched.
        """
        try:
            self.objects.put_bytes(self.key(manifest.id, MANIFEST_NAME), manifest.dumps().encode())
        except OperationFailed as exc:
            raise OperationFailed(
                f"backup {manifest.id} was not completed: its {MANIFEST_NAME} could not be written "
                f"({exc.message}); it is not listed and will not be restored, other backups are untouched",
                hint=f"free space in (or fix access to) {self.uri} and run pgwarden backup again; "
                "backups list shows the leftover files as incomplete, backups prune removes them after a day",
            ) from None

    def _read_manifest(self, backup_id: str) -> BackupManifest | None:
        data = self.objects.get_bytes(self.key(backup_id, MANIFEST_NAME))
        if data is None:
            return None
        try:
            return BackupManifest.loads(data)
        except (ValueError, TypeError, KeyError, json.JSONDecodeError):
            return None

    def list_manifests(self) -> list[BackupManifest]:
        """Every backup with a readable manifest, newest first."""
        found = [m for m in (self._read_manifest(i) for i in self.objects.list_dirs()) if m is not None]
        return newest_first(found)

    def incomplete_ids(self) -> list[str]:
        """Backup folders without a readable manifest: interrupted (or still running) backups."""
        return sorted(i for i in self.objects.list_dirs() if self._read_manifest(i) is None)

    def get_manifest(self, backup_id: str) -> BackupManifest:
        manifest = self._read_manifest(backup_id)
        if manifest is None:
            known = [m.id for m in self.list_manifests()[:5]]
            hint = ("newest backups there: " + ", ".join(known)) if known else "the store holds no backups"
            raise OperationFailed(f"backup {backup_id} not found in {self.uri}", hint=hint)
        return manifest

    def latest_verified(self, identity: DatabaseIdentity | None = None) -> BackupManifest | None:
        """The newest verified backup (of ``identity``'s database when given)."""
        return latest_verified(self.list_manifests(), identity)

    def missing_files(self, manifest: BackupManifest) -> list[str]:
        """What is wrong with the backup's files as the store lists them: each file of the manifest
        must be there with its size. Empty when all are (their bytes are not read: see
        ``stores.transfer.read_checked`` for that)."""
        stored = dict(self.objects.list_keys(manifest.id))
        problems: list[str] = []
        for file in manifest.files:
            size = stored.get(self.key(manifest.id, file.name))
            if size is None:
                problems.append(f"{file.name} is missing")
            elif size != file.size:
                problems.append(f"{file.name} is {size} bytes, the manifest says {file.size}")
        if not manifest.files:
            problems.append("the manifest lists no file")
        return problems

    def delete_backup(self, backup_id: str) -> None:
        # The manifest goes first: a half-deleted backup must look incomplete, never complete.
        self.objects.delete_prefix(f"{backup_id}/{MANIFEST_NAME}")
        self.objects.delete_prefix(backup_id)
