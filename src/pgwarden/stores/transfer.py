"""Moving backup files in and out of a store while checking every byte.

Writing: :class:`HashingWriter` counts and hashes exactly the bytes that reach the store,
optionally through a zstd compressor in front. Reading: :func:`read_checked` streams one
stored file, hashes it, optionally decompresses it to a sink, and raises a clear
:class:`OperationFailed` when the size, the sha256 or the zstd frame is not what the manifest
says. Restore runs it to the end before the database is touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import zstandard

from pgwarden.errors import OperationFailed
from pgwarden.manifest import BackupFile
from pgwarden.stores.base import BackupStore, ObjectWriter

READ_CHUNK = 4 * 1024 * 1024


class HashingWriter:
    """Wraps a store writer: sha256 and size of what was written (i.e. of what is stored)."""

    def __init__(self, inner: ObjectWriter) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)

    def flush(self) -> None:
        """zstandard's stream writer flushes its target; the store buffers on its own."""


@dataclass
class ReadResult:
    stored_bytes: int
    plain_bytes: int


def _stored_size(store: BackupStore, backup_id: str, file: BackupFile) -> int | None:
    """The file's size as the store lists it (None when it cannot say): tells a short transfer
    from a short object."""
    try:
        return dict(store.objects.list_keys(backup_id)).get(store.key(backup_id, file.name))
    except OperationFailed:
        return None


def read_checked(
    store: BackupStore,
    backup_id: str,
    file: BackupFile,
    sink: Callable[[bytes], object] | None,
    *,
    decompress: bool,
) -> ReadResult:
    """Stream one stored file through sha256 (and zstd when ``decompress``) into ``sink``.

    Raises OperationFailed on a size or checksum mismatch, a truncated or corrupt zstd frame,
    or a missing file; a download that ended early while the store holds the whole file says
    so (the backup is fine) instead of calling it damaged. ``sink`` may see bytes before a late
    mismatch is found, so callers must write to scratch space, never into the database.
    """
    digest = hashlib.sha256()
    stored = plain = 0
    decoder = zstandard.ZstdDecompressor().decompressobj() if decompress else None
    frame_error: str | None = None
    where = f"{file.name} of backup {backup_id} in {store.uri}"
    reader = store.open_reader(backup_id, file.name)
    try:
        while True:
            chunk = reader.read(READ_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            stored += len(chunk)
            if frame_error is not None:
                continue  # keep hashing: a checksum mismatch is the clearer message
            data = chunk
            if decoder is not None:
                try:
                    data = decoder.decompress(chunk)
                except zstandard.ZstdError as exc:
                    frame_error = str(exc)
                    continue
            plain += len(data)
            if sink is not None and data:
                sink(data)
    except OSError as exc:
        raise OperationFailed(f"reading {where} failed: {exc}") from None
    finally:
        reader.close()
    actual = digest.hexdigest()
    if stored < file.size and _stored_size(store, backup_id, file) == file.size:
        raise OperationFailed(
            f"reading {where} came up short: {stored} of its {file.size} bytes arrived, though the store "
            "holds all of them (the stored file looks intact; nothing was changed)",
            hint="the network or a proxy ended the transfer early; run the command again",
        )
    if stored != file.size or actual != file.sha256:
        raise OperationFailed(
            f"checksum mismatch for {where}: expected {file.size} bytes with sha256 {file.sha256[:16]}..., "
            f"found {stored} bytes with sha256 {actual[:16]}...",
            hint="the stored backup is damaged or truncated; restore another backup id",
        )
    if frame_error is not None:
        raise OperationFailed(f"{where} does not decompress: {frame_error}")
    if decoder is not None and not decoder.eof:
        raise OperationFailed(f"{where} ends in the middle of its zstd frame (truncated before upload)")
    return ReadResult(stored, plain)
