"""``take_backup``: a verified logical backup (plus an optional managed snapshot) in a store.

Order matters, because a backup must never look good unless it is:

1. open a REPEATABLE READ transaction and export its snapshot; pg_dump dumps that snapshot
   and our exact row counts are taken in it, so counts and dump agree to the row;
2. stream pg_dump's output (custom format) through zstd into the store, or dump a folder
   (directory format) and upload its files; stored bytes are hashed on the way;
3. read every stored file back: size + sha256 + zstd frame, and ``pg_restore --list``;
4. only then publish ``manifest.json`` with ``verified: true``. An interruption at any
   earlier point leaves no manifest (or one with ``verified: false``), and ``restore
   latest`` and ``deploy`` ignore it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import psycopg
from psycopg import sql

from pgwarden.audit import new_run_id
from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed, PgwardenError
from pgwarden.manifest import BackupFile, BackupManifest, new_backup_id, utc_now_iso
from pgwarden.names import QualifiedName
from pgwarden.pg.archive import ArchiveListing, ListingFeed, list_archive
from pgwarden.pg.binaries import ClientProgram, find_client
from pgwarden.pg.connection import DatabaseTarget, connect, server_version
from pgwarden.pg.dump import (
    Compression,
    DumpProgress,
    dump_command,
    folder_size,
    parse_compression,
    run_directory_dump,
    stream_custom_dump,
)
from pgwarden.pg.identity import identity_of
from pgwarden.pg.tables import TABLES_SQL
from pgwarden.records import Progress
from pgwarden.redact import redact
from pgwarden.snapshots import get_snapshotter, take_snapshot
from pgwarden.stores import BackupStore, open_store
from pgwarden.stores.transfer import HashingWriter, read_checked
from pgwarden.tools import get_tool
from pgwarden.units import format_bytes

#: Tables smaller than this are counted exactly (in the dump's snapshot); bigger ones use the
#: planner's estimate, because a full scan of a big table would slow the backup down.
EXACT_COUNT_MAX_BYTES = 64 * 1024 * 1024
DUMP_FORMATS = ("custom", "directory")


@dataclass
class TableCounts:
    rows: dict[str, int] = field(default_factory=dict)
    exact: list[str] = field(default_factory=list)
    error: str | None = None


def _quiet(_: str) -> None:
    pass


def safe_name(dbname: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", dbname) or "database"


def _excluded(table: QualifiedName, patterns: list[str]) -> bool:
    """``backup.exclude_tables``: a pattern matches the qualified name or the bare table name."""
    return any(fnmatch.fnmatchcase(table.text, p) or fnmatch.fnmatchcase(table.name, p) for p in patterns)


def _count_tables(conn: psycopg.Connection[Any], tables: list[tuple[str, str, int, int]], out: TableCounts) -> None:
    """Runs in a thread, inside the exported snapshot, while pg_dump streams."""
    try:
        for schema, table, estimate, size in tables:
            name = QualifiedName(schema, table).text
            if size <= EXACT_COUNT_MAX_BYTES or estimate < 0:
                row = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()
                out.rows[name] = int(row[0]) if row else 0
                out.exact.append(name)
            else:
                out.rows[name] = estimate
    except psycopg.Error as exc:
        out.error = redact(str(exc).strip())


def _migration_head(settings: Settings, conn: psycopg.Connection[Any]) -> str | None:
    try:
        return get_tool(settings).head(conn)
    except (PgwardenError, ImportError, psycopg.Error, OSError):
        # The head is informative; a backup must not fail because the tool cannot say it.
        return None


def _ci_run_id() -> str | None:
    """The Actions run (``new_run_id``'s form) that took the backup; None outside CI, where
    ``new_run_id`` would make up a local id that names no run."""
    return new_run_id() if os.environ.get("GITHUB_RUN_ID") else None


def _dump_custom(
    store: BackupStore, backup_id: str, name: str, args: list[str], pg_dump: ClientProgram,
    target: DatabaseTarget, compression: Compression, progress: DumpProgress,
) -> tuple[BackupFile, int]:
    writer = store.open_writer(backup_id, name)
    hashing = HashingWriter(writer)
    try:
        if compression.outside:
            compressor = compression.compressor().stream_writer(cast(IO[bytes], hashing), closefd=False)
            plain = stream_custom_dump(args, pg_dump, target, compressor.write, progress)
            compressor.close()  # type: ignore[no-untyped-call]
        else:
            plain = stream_custom_dump(args, pg_dump, target, hashing.write, progress)
        writer.commit()
    except OSError as exc:
        writer.abort()
        raise OperationFailed(f"writing the backup to {store.uri} failed: {exc}") from None
    except BaseException:
        writer.abort()
        raise
    return BackupFile(name, hashing.size, hashing.digest.hexdigest()), plain


def _upload_folder(
    store: BackupStore, backup_id: str, folder: Path, prefix: str, compression: Compression
) -> list[BackupFile]:
    files: list[BackupFile] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        name = f"{prefix}/{path.name}{compression.suffix}"
        writer = store.open_writer(backup_id, name)
        hashing = HashingWriter(writer)
        try:
            with open(path, "rb") as source:
                if compression.outside:
                    compressor = compression.compressor().stream_writer(cast(IO[bytes], hashing), closefd=False)
                    shutil.copyfileobj(source, compressor, 4 * 1024 * 1024)
                    compressor.close()  # type: ignore[no-untyped-call]
                else:
                    shutil.copyfileobj(source, hashing, 4 * 1024 * 1024)
            writer.commit()
        except OSError as exc:
            writer.abort()
            raise OperationFailed(f"writing {name} to {store.uri} failed: {exc}") from None
        except BaseException:
            writer.abort()
            raise
        files.append(BackupFile(name, hashing.size, hashing.digest.hexdigest()))
    return files


def verify_stored(
    store: BackupStore, manifest: BackupManifest, pg_restore: ClientProgram, listing: ArchiveListing | None
) -> str:
    """Re-read every stored file (size, sha256, zstd frame) and list the archive; a summary."""
    outside = manifest.compression.startswith("zstd")
    if manifest.format == "custom":
        (file,) = manifest.files
        feed = ListingFeed(pg_restore)
        try:
            read_checked(store, manifest.id, file, feed.write, decompress=outside)
        except BaseException:
            feed.kill()
            raise
        listing = feed.finish()
    else:
        for file in manifest.files:
            read_checked(store, manifest.id, file, None, decompress=outside)
    assert listing is not None
    return (
        f"re-read {len(manifest.files)} file(s) from the store: sizes and sha256 match; "
        f"pg_restore --list: {listing.entries} entries, {listing.table_data} with table data"
    )


#: ``RUNNER_ENVIRONMENT`` on GitHub's own runners: a fresh machine per job, its disk deleted after it.
HOSTED_RUNNER = "github-hosted"


def refuse_ephemeral_store(settings: Settings, uri: str, *, from_option: bool = False,
                           environ: Mapping[str, str] | None = None) -> None:
    """Exit 2 before dumping into a folder that is deleted with the job (a file store on a hosted runner).

    ``backup.allow_ephemeral_store: true`` is the way out for a job that copies the dump elsewhere
    itself (an artifact, say) or only needs it for the job's own deploy.
    """
    env = os.environ if environ is None else environ
    local = uri.startswith("file://") or "://" not in uri
    if not local or env.get("RUNNER_ENVIRONMENT") != HOSTED_RUNNER or settings.backup.allow_ephemeral_store:
        return
    key = "--store" if from_option else "backup.store" + (f" in {settings.source}" if settings.source else "")
    raise ConfigError(
        f"{key}: {uri!r} is a folder on a GitHub-hosted runner, whose disk is deleted when the job ends: "
        "the backup would be gone before anyone could restore from it",
        hint="use an S3 store (backup.store: s3://bucket/prefix, credentials from the job's environment), or set "
             "backup.allow_ephemeral_store: true if the job keeps the dump some other way",
    )


def take_backup(
    settings: Settings,
    target: DatabaseTarget,
    *,
    store_uri: str | None = None,
    dump_format: str | None = None,
    jobs: int | None = None,
    compress: str | None = None,
    migration_head: str | None = None,
    progress: Progress | None = None,
) -> BackupManifest:
    """Dump, store, verify and publish one backup; returns its manifest (``verified`` True)."""
    config = settings.backup
    say = progress or _quiet
    uri = store_uri or config.store
    fmt = dump_format or config.format
    if fmt not in DUMP_FORMATS:
        raise ConfigError(f"--dump-format: expected custom or directory, got {fmt!r}")
    job_count = max(1, jobs if jobs is not None else config.jobs)
    compression = parse_compression(compress if compress is not None else config.compress)
    refuse_ephemeral_store(settings, uri, from_option=store_uri is not None)
    store = open_store(uri, settings)
    if settings.backup.snapshot.provider:
        # A snapshot misconfiguration (unsupported provider, no instance, no region) is a usage
        # error: say so (exit 2) before spending a full dump, not after it.
        get_snapshotter(settings)
    started = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc)
    backup_id = new_backup_id(now)
    created_at = utc_now_iso(now)

    with connect(target) as conn:
        major, minor = server_version(conn)
        identity = identity_of(conn, target)
        pg_dump = find_client("pg_dump", major)
        head = migration_head if migration_head is not None else _migration_head(settings, conn)
    pg_restore = find_client("pg_restore", pg_dump.major)
    say(f"backup {backup_id}: {target.display()} (PostgreSQL {major}.{minor}) with pg_dump {pg_dump.version}, "
        f"{fmt} format, {compression.label}, to {uri}")

    counts = TableCounts()
    snap_conn = connect(target, autocommit=False)
    tmp_root: Path | None = None
    listing: ArchiveListing | None = None
    try:
        snap_conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap_conn.read_only = True
        row = snap_conn.execute("select pg_export_snapshot()").fetchone()
        snapshot = str(row[0]) if row else None
        tables = [
            (str(s), str(t), int(e), int(z))
            for s, t, e, z in snap_conn.execute(TABLES_SQL).fetchall()
            if not _excluded(QualifiedName(str(s), str(t)), config.exclude_tables)
        ]
        dump_progress = DumpProgress(say, total_tables=len(tables))
        counter = threading.Thread(target=_count_tables, args=(snap_conn, tables, counts), daemon=True)
        base = safe_name(target.dbname)
        with dump_progress.running():
            if fmt == "custom":
                args = dump_command(pg_dump, target, dump_format="custom", compression=compression,
                                    snapshot=snapshot, exclude_table_data=config.exclude_tables,
                                    server_major=major)
                counter.start()
                file, plain_bytes = _dump_custom(store, backup_id, f"{base}.dump{compression.suffix}", args,
                                                 pg_dump, target, compression, dump_progress)
                files = [file]
            else:
                tmp_root = Path(tempfile.mkdtemp(prefix="pgwarden-dump-", dir=os.environ.get("PGWARDEN_TMPDIR")))
                folder = tmp_root / "dump"
                args = dump_command(pg_dump, target, dump_format="directory", compression=compression,
                                    snapshot=snapshot, jobs=job_count, output=folder,
                                    exclude_table_data=config.exclude_tables, server_major=major)
                dump_progress.bytes_source = lambda: folder_size(folder) if folder.exists() else 0
                counter.start()
                run_directory_dump(args, pg_dump, target, dump_progress)
                plain_bytes = folder_size(folder)
                listing = list_archive(pg_restore, folder)
                say(f"dump: {len(tables)} tables, {format_bytes(plain_bytes)}; uploading")
                files = _upload_folder(store, backup_id, folder, f"{base}.dir", compression)
        counter.join()
    finally:
        snap_conn.close()
        if tmp_root is not None:
            shutil.rmtree(tmp_root, ignore_errors=True)
    if counts.error:
        say(f"warning: exact row counts failed ({counts.error}); the manifest has estimates only")

    manifest = BackupManifest(
        id=backup_id,
        created_at=created_at,
        database=target.dbname,
        server_version=f"{major}.{minor}",
        pg_dump_version=pg_dump.version,
        format=fmt,
        compression=compression.label,
        files=files,
        size_bytes=sum(f.size for f in files),
        tables=counts.rows,
        exact_tables=counts.exact,
        migration_head=head,
        git_sha=os.environ.get("GITHUB_SHA"),
        run_id=_ci_run_id(),
        store=uri,
        uncompressed_bytes=plain_bytes,
        system_identifier=identity.system_identifier,
        origin=identity.where,
    )
    say(f"stored {format_bytes(manifest.size_bytes)} ({format_bytes(plain_bytes)} before compression); verifying")
    try:
        manifest.verification = verify_stored(store, manifest, pg_restore, listing)
        manifest.verified = True
    except OperationFailed as exc:
        manifest.verification = f"failed: {exc.message}"
        manifest.duration_s = round(time.monotonic() - started, 3)
        store.write_manifest(manifest)
        raise OperationFailed(
            f"backup {backup_id} did not verify and is marked unverified: {exc.message}",
            hint="restore latest and deploy will not use it; check the store and run pgwarden backup again",
        ) from None
    snapshot_error: str | None = None
    if settings.backup.snapshot.provider:
        try:
            manifest.snapshot = take_snapshot(settings, backup_id, manifest.run_id, say)
        except PgwardenError as exc:
            snapshot_error = exc.message
            manifest.snapshot = {"provider": settings.backup.snapshot.provider, "error": exc.message}
    manifest.duration_s = round(time.monotonic() - started, 3)
    store.write_manifest(manifest)
    say(f"backup {backup_id} verified in {manifest.duration_s:.1f}s: {manifest.verification}")
    if snapshot_error:
        raise OperationFailed(
            f"the logical backup {backup_id} is verified, but the {settings.backup.snapshot.provider} "
            f"snapshot failed: {snapshot_error}"
        )
    return manifest
