"""``file://DIR``: backups as folders on a local (or mounted) filesystem.

Files are written as ``NAME.part`` and renamed on commit; the manifest is written through a
temp file and renamed, so a reader never sees half a manifest. A write that fails (a full
disk fails at the flush, the fsync or the rename as often as at a write) removes its ``.part``:
nothing half-written is left, and what was under the key before is untouched. New store folders
are created private (0700): a dump holds all of the database's data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO

from pgwarden.errors import OperationFailed


class LocalWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.part.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fh: BinaryIO | None = open(self.part, "wb")

    def write(self, data: bytes) -> int:
        assert self._fh is not None, "write after commit/abort"
        return self._fh.write(data)

    def commit(self) -> None:
        """Publish the file; an OSError (ENOSPC at the flush...) leaves no ``.part`` behind."""
        assert self._fh is not None, "commit twice"
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            fh, self._fh = self._fh, None
            fh.close()
            os.replace(self.part, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop what was written; never raises (it runs while another error propagates)."""
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()  # flushes the buffer: fails again on a full disk, the file goes anyway
            except OSError:
                pass
        try:
            self.part.unlink(missing_ok=True)
        except OSError:
            pass


class LocalObjects:
    def __init__(self, root: Path, uri: str) -> None:
        self.root = root
        self.uri = uri

    def _path(self, key: str) -> Path:
        return self.root / key

    def _ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise OperationFailed(f"cannot create the backup folder {self.root}: {exc.strerror}") from None

    def open_writer(self, key: str) -> LocalWriter:
        self._ensure_root()
        try:
            return LocalWriter(self._path(key))
        except OSError as exc:
            raise OperationFailed(f"cannot write {self._path(key)}: {exc.strerror}") from None

    def open_reader(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise OperationFailed(f"{key} is missing from {self.uri}") from None
        except OSError as exc:
            raise OperationFailed(f"cannot read {self._path(key)}: {exc.strerror or exc}") from None

    def put_bytes(self, key: str, data: bytes) -> None:
        writer = self.open_writer(key)
        try:
            writer.write(data)
            writer.commit()
        except OSError as exc:
            writer.abort()
            raise OperationFailed(f"cannot write {self._path(key)}: {exc.strerror or exc}") from None
        except BaseException:
            writer.abort()
            raise

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list_dirs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(
            (str(p.relative_to(self.root)), p.stat().st_size) for p in base.rglob("*") if p.is_file()
        )

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None
