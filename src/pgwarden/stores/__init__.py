"""Backup stores: :func:`open_store` turns a store URI into a :class:`BackupStore`.

The registry is this one explicit function: ``file://DIR`` (relative to the config file's
folder) and ``s3://bucket/prefix``. Adding a backend means one module and one branch here.
"""

from __future__ import annotations

from pgwarden.config import Settings
from pgwarden.errors import ConfigError
from pgwarden.stores.base import BackupStore, ObjectStore, ObjectWriter

__all__ = ["BackupStore", "ObjectStore", "ObjectWriter", "open_store"]


def open_store(uri: str, settings: Settings) -> BackupStore:
    if uri.startswith("file://") or "://" not in uri:
        from pgwarden.stores.local import LocalObjects

        path = uri[len("file://"):] if uri.startswith("file://") else uri
        if not path:
            raise ConfigError(f"backup.store: expected file://DIR with a folder, got {uri!r}")
        return BackupStore(LocalObjects(settings.resolve_path(path), uri))
    if uri.startswith("s3://"):
        from pgwarden.stores.s3 import S3Objects

        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket:
            raise ConfigError(f"backup.store: expected s3://BUCKET/PREFIX, got {uri!r}")
        return BackupStore(S3Objects(uri, bucket, prefix.strip("/"), settings.backup))
    raise ConfigError(
        f"backup.store: expected file://DIR or s3://BUCKET/PREFIX, got {uri!r}"
        + (f" (from {settings.source})" if settings.source else "")
    )
