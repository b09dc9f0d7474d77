"""``restore_backup``: put a verified backup back, safely, and prove it worked.

Refusals come first and touch nothing: a ``--confirm`` that is not the target database's name,
``latest`` when no backup is verified, an unverified backup id, an ``--into`` database that
exists. Then every stored file is read in full into scratch space and checked (size, sha256,
zstd frame); only after all of them match does anything connect to restore. Afterwards the
row counts are compared with the manifest and the duration with ``restore.rto``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.config import Settings
from pgwarden.durations import format_duration
from pgwarden.errors import ConfigError, OperationFailed, SafetyRefusal
from pgwarden.manifest import BackupManifest
from pgwarden.pg.archive import read_toc
from pgwarden.pg.binaries import ClientProgram, find_client
from pgwarden.pg.connection import DatabaseTarget, connect, quote_ident, server_version
from pgwarden.pg.inplace import ReplacePlan, parse_toc, plan_replace
from pgwarden.pg.restore_atomic import restore_filtered
from pgwarden.pg.restore_parallel import restore_parallel
from pgwarden.pg.restore_session import RestoreRun
from pgwarden.pg.script import FREEZE_REFUSED
from pgwarden.pg.tables import TABLES_SQL, analyze_schemas, count_rows, label, plan_counts, split_name
from pgwarden.records import Check, StepResult
from pgwarden.redact import redact
from pgwarden.stores import BackupStore, open_store
from pgwarden.stores.transfer import read_checked

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def resolve_backup(store: BackupStore, backup_id: str) -> BackupManifest:
    """The manifest for an id or ``latest``; refuses anything not verified."""
    if backup_id == "latest":
        manifest = store.latest_verified()
        if manifest is None:
            unverified = store.list_manifests()
            detail = f" ({len(unverified)} unverified)" if unverified else ""
            raise SafetyRefusal(
                f"no verified backup in {store.uri}{detail}: refusing to restore 'latest'",
                hint="run pgwarden backup, or pass an explicit --backup-id after checking it with "
                "pgwarden backups show ID",
            )
        return manifest
    manifest = store.get_manifest(backup_id)
    if not manifest.verified:
        raise SafetyRefusal(
            f"backup {backup_id} in {store.uri} is not verified ({manifest.verification or 'never checked'}): "
            "refusing to restore it",
            hint="pick a verified backup from pgwarden backups list",
        )
    return manifest


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
    workdir = Path(tempfile.mkdtemp(prefix="pgwarden-restore-", dir=os.environ.get("PGWARDEN_TMPDIR")))
    free = shutil.disk_usage(workdir).free
    if free < need * 1.05:
        shutil.rmtree(workdir, ignore_errors=True)
        raise OperationFailed(
            f"not enough scratch space in {workdir.parent} to unpack backup {manifest.id}: "
            f"needs {need / 1e6:.0f} MB, {free / 1e6:.0f} MB free; the database was not touched",
            hint="point PGWARDEN_TMPDIR at a bigger disk",
        )
    try:
        stored = 0
        unpack = outside and manifest.format == "directory"
        for file in manifest.files:
            plain_name = file.name[: -len(".zst")] if unpack and file.name.endswith(".zst") else file.name
            destination = workdir / plain_name
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(destination, "wb") as out:
                stored += read_checked(store, manifest.id, file, out.write, decompress=unpack).stored_bytes
        if manifest.format == "directory":
            return FetchedArchive(workdir / manifest.files[0].name.split("/", 1)[0], workdir, stored,
                                  time.monotonic() - started)
        path = workdir / manifest.files[0].name
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return FetchedArchive(path, workdir, stored, time.monotonic() - started, outside)


def compare_rows(
    target: DatabaseTarget, manifest: BackupManifest, tolerance: float, *, loaded: dict[str, int] | None = None
) -> tuple[list[Check], dict[str, Any]]:
    """Row counts after restore vs the manifest: exact tables must match exactly.

    ``loaded`` holds the rows the server reported for each table's COPY during the restore (its
    ``COPY n`` command tags): exact, and free, where ``count(*)`` would read every big table again
    (about 1.6 s for 2M rows). The tables restored empty of rows start empty, so those tags are the
    rows they hold. A table without a tag is counted with ``count(*)``. The partitions of a
    hash-partitioned table are compared as one (see ``pgwarden.pg.tables``).
    """
    checks: list[Check] = []
    rows: dict[str, Any] = {}
    mismatched: list[str] = []
    drifted: list[str] = []
    tags = loaded or {}
    with connect(target) as conn:
        plan = plan_counts(conn, manifest.tables, set(manifest.exact_tables))
        for name, expected in sorted(plan.expected.items()):
            members = plan.partitions.get(name, [name])
            if name in tags:  # loaded through the partitioned table, or a plain table
                actual: int | None = tags[name]
            elif all(m in tags for m in members):
                actual = sum(tags[m] for m in members)
            else:
                actual = count_rows(conn, name)
            is_exact = name in plan.exact
            rows[name] = {"expected": expected, "actual": actual, "exact": is_exact}
            if name in plan.partitions:
                rows[name]["partitions"] = members
            if actual is None:
                mismatched.append(f"{label(name, plan)} is missing")
            elif is_exact and actual != expected:
                mismatched.append(f"{label(name, plan)}: {actual} rows, backup had {expected}")
            elif not is_exact and abs(actual - expected) > max(1.0, expected * tolerance):
                drifted.append(f"{label(name, plan)}: {actual} rows, estimate was {expected}")
        # The tables the backup counts (TABLES_SQL): plain ones, not an extension's; a partitioned
        # table holds no rows of its own.
        existing = {f"{s}.{t}" for s, t, _, _ in conn.execute(TABLES_SQL).fetchall()}
    extra = sorted(existing - set(manifest.tables))
    counted = len(manifest.tables)
    tagged = len(set(manifest.tables) & set(tags))
    checks.append(Check(
        "row counts match the backup",
        ok=not mismatched,
        detail="; ".join(mismatched) if mismatched else
        f"{counted} tables ({len(manifest.exact_tables)} exact counts) match"
        + (f"; {tagged} counted by the server while loading them (COPY results)" if tagged else ""),
    ))
    if drifted:
        checks.append(Check("estimated row counts", ok=False, warning=True, detail="; ".join(drifted)))
    if extra:
        checks.append(Check(
            "tables not in the backup", ok=False, warning=True,
            detail="left as they were (created after the backup?): " + ", ".join(extra[:20]),
        ))
    return checks, rows


def switch_over_commands(target: DatabaseTarget, new_db: str, backup_id: str) -> list[str]:
    admin = target.with_dbname("postgres").child_dbname_arg()
    old = target.dbname
    old_literal = "'" + old.replace("'", "''") + "'"
    parked = f"{old}_before_{backup_id.split('-')[0].lower()}"
    return [
        "# stop the application (or put it in maintenance mode), then:",
        f"psql '{admin}' -v ON_ERROR_STOP=1 <<'SQL'",
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {old_literal} "
        "AND pid <> pg_backend_pid();",
        f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(parked)};",
        f"ALTER DATABASE {quote_ident(new_db)} RENAME TO {quote_ident(old)};",
        "SQL",
        f"# the previous database is kept as {parked}; drop it once the application looks healthy",
    ]


@dataclass
class RestoreOutcome:
    manifest: BackupManifest
    run: RestoreRun
    checks: list[Check] = field(default_factory=list)
    rows: dict[str, Any] = field(default_factory=dict)
    fetch_s: float = 0.0
    restore_s: float = 0.0
    #: in place: objects of the backup's schemas that were not in the backup, dropped
    dropped: list[str] = field(default_factory=list)
    #: in place: objects in other schemas that depended on the backup's objects, dropped by CASCADE
    dropped_outside: list[str] = field(default_factory=list)


def restore_manifest(
    settings: Settings,
    target: DatabaseTarget,
    store: BackupStore,
    manifest: BackupManifest,
    *,
    into: str | None,
    say: Progress,
) -> RestoreOutcome:
    """Fetch + check, then restore into ``target`` (in place) or a new database ``into``."""
    with connect(target) as conn:
        major, _ = server_version(conn)
        known = {str(r[0]) for r in conn.execute("select name from pg_settings").fetchall()}
        if into is not None:
            exists = conn.execute("select 1 from pg_database where datname = %s", (into,)).fetchone()
            if exists:
                raise SafetyRefusal(
                    f"database {into} already exists on {target.display()}: --into only creates a new "
                    "database, nothing was changed",
                    hint="choose another name, or restore in place with --confirm",
                )
    pg_restore = find_client("pg_restore", max(major, manifest.pg_dump_major))
    say(f"reading backup {manifest.id} ({manifest.size_bytes / 1e6:.1f} MB) from {store.uri} and checking it")
    archive = fetch_archive(store, manifest, say)
    say(f"checksums match ({archive.seconds:.1f}s); restoring with pg_restore {pg_restore.version}")
    replace: ReplacePlan | None = None
    try:
        destination = target
        if into is None:
            replace = _plan_in_place(pg_restore, target, archive, say)
        else:
            with connect(target) as conn:
                conn.execute(f"create database {quote_ident(into)}")
            destination = target.with_dbname(into)
        started = time.monotonic()
        try:
            if replace is not None or major < manifest.pg_dump_major:
                # In place always goes through psql: the prelude that empties the backup's schemas and
                # the archive then run in one transaction, so any failure leaves the database as it was.
                psql = pg_restore.sibling("psql")
                filtered = partial(restore_filtered, pg_restore, psql, destination, archive.path,
                                   known_settings=known, clean=into is None, compressed=archive.compressed,
                                   prelude=replace.prelude() if replace is not None else b"")
                try:
                    run = filtered()
                except OperationFailed as exc:
                    if FREEZE_REFUSED not in str(exc):
                        raise
                    # The server refused a COPY ... FREEZE pgwarden asked for: nothing was changed
                    # (one transaction), so the same restore runs again with plain COPYs.
                    say("the server refused COPY FREEZE for a table (nothing was changed); "
                        "restoring again without it")
                    run = filtered(freeze=False)
            else:
                # A new database: nothing to keep atomic (a failure drops it), so the data is loaded
                # over restore.jobs sessions at once, the rows of the biggest table included.
                run = restore_parallel(pg_restore, pg_restore.sibling("psql"), destination, archive.path,
                                       jobs=max(1, settings.restore.jobs), compressed=archive.compressed)
        except BaseException:
            if into is not None:
                with connect(target) as conn:
                    conn.execute(f"drop database if exists {quote_ident(into)} with (force)"
                                 if major >= 13 else f"drop database if exists {quote_ident(into)}")
            raise
        restore_s = time.monotonic() - started
    finally:
        archive.cleanup()
    if run.dropped_settings:
        say(f"skipped settings PostgreSQL {major} does not know: {', '.join(run.dropped_settings)}")
    checks, rows = compare_rows(destination, manifest, settings.verify.row_count_tolerance,
                                loaded=run.loaded_rows)
    outcome = RestoreOutcome(manifest, run, checks, rows, archive.seconds, restore_s)
    if replace is not None:
        outcome.dropped = replace.not_in_backup
        outcome.dropped_outside = replace.outside_dependents
        if replace.not_in_backup:
            say(f"dropped objects not in the backup: {_names(replace.not_in_backup)}")
            checks.append(Check("objects not in the backup", ok=False, warning=True,
                                detail="dropped: " + _names(replace.not_in_backup)))
        if replace.outside_dependents:
            checks.append(Check("objects outside the backup's schemas that depended on it", ok=False,
                                warning=True, detail="dropped: " + _names(replace.outside_dependents)))
    return outcome


def _names(items: list[str], limit: int = 30) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _plan_in_place(pg_restore: ClientProgram, target: DatabaseTarget, archive: FetchedArchive,
                   say: Progress) -> ReplacePlan:
    """Read the archive's TOC and the live catalog; refuse, before touching anything, what would fail."""
    contents = parse_toc(read_toc(pg_restore, archive.path, compressed=archive.compressed))
    with connect(target) as conn:
        plan = plan_replace(conn, contents)
        row = conn.execute("select current_user").fetchone()
        user = str(row[0]) if row else "the restoring role"
    if plan.not_owned:
        raise OperationFailed(
            f"role {user} cannot drop objects of the backup's schemas that it does not own: "
            f"{_names(plan.not_owned)}; nothing was changed",
            hint="restore as their owner (or a superuser), or change their owner, then run the restore again; "
            "--into NEWDB restores without touching them",
        )
    say(f"in place: schemas {', '.join(plan.schemas)} will hold exactly the backup (one transaction)")
    if plan.not_in_backup:
        say(f"objects not in the backup will be dropped: {_names(plan.not_in_backup)}")
    if plan.kept:
        say(f"kept (pgwarden's audit trail, not in the backup): {_names(plan.kept)}")
    if plan.outside_dependents:
        say(f"objects outside those schemas that depend on them will be dropped too: "
            f"{_names(plan.outside_dependents)}")
    return plan


def restore_backup(
    settings: Settings,
    target: DatabaseTarget,
    backup_id: str,
    *,
    store_uri: str | None = None,
    confirm: str | None = None,
    into: str | None = None,
    progress: Progress | None = None,
) -> StepResult:
    """Restore ``backup_id`` (or ``latest`` verified) in place (``confirm``) or into a new database."""
    say = progress or _quiet
    if (confirm is None) == (into is None):
        raise ConfigError("restore needs exactly one of --confirm DBNAME (in place) or --into NEWDB (new database)")
    if confirm is not None and confirm != target.dbname:
        raise SafetyRefusal(
            f"--confirm {confirm!r} does not match the target database {target.dbname!r}: nothing was changed",
            hint=f"to overwrite {target.display()} pass --confirm {target.dbname}, or use --into NEWDB",
        )
    if into is not None and into == target.dbname:
        raise SafetyRefusal(f"--into {into} is the target database itself; use --confirm {into} to restore in place")
    started = time.monotonic()
    store = open_store(store_uri or settings.backup.store, settings)
    manifest = resolve_backup(store, backup_id)
    outcome = restore_manifest(settings, target, store, manifest, into=into, say=say)
    duration = time.monotonic() - started
    rto = settings.restore.rto
    checks = list(outcome.checks)
    checks.append(Check(
        "within the recovery time objective",
        ok=duration <= rto,
        warning=True,
        detail=f"{format_duration(duration)} against restore.rto {format_duration(rto)}",
    ))
    where = into if into is not None else target.dbname
    analyze_s = _analyze(settings, target.with_dbname(where), manifest, checks, say)
    ok = all(c.ok or c.warning for c in checks)
    summary = (
        f"restored backup {manifest.id} ({manifest.created_at}) into {where} in {format_duration(duration)}"
        + ("" if ok else "; row counts differ from the backup")
    )
    details: dict[str, Any] = {
        "backup_id": manifest.id,
        "store": store.uri,
        "database": where,
        "mode": "into" if into is not None else "in-place",
        "method": outcome.run.method,
        "skipped_settings": outcome.run.dropped_settings,
        "fetch_s": round(outcome.fetch_s, 3),
        "restore_s": round(outcome.restore_s, 3),
        "analyze_s": analyze_s,
        "rto_s": rto,
        "within_rto": duration <= rto,
        "migration_head": manifest.migration_head,
        "rows": outcome.rows,
    }
    if into is None:
        details["dropped_not_in_backup"] = outcome.dropped
        details["dropped_outside_backup_schemas"] = outcome.dropped_outside
    if into is not None:
        details["switch_over"] = switch_over_commands(target, into, manifest.id)
    return StepResult("restore", ok=ok, summary=redact(summary), duration_s=duration, checks=checks, details=details)


def _analyze(settings: Settings, destination: DatabaseTarget, manifest: BackupManifest, checks: list[Check],
             say: Progress) -> float | None:
    """Planner statistics for what was restored (``restore.analyze``); seconds taken, None when off.

    The restore is done and counted by now: a failure here is a warning, never a failed restore.
    """
    if not settings.restore.analyze:
        return None
    schemas = {split_name(name)[0] for name in manifest.tables}
    if not schemas:
        return None
    started = time.monotonic()
    try:
        with connect(destination) as conn:
            count = analyze_schemas(conn, schemas)
    except psycopg.Error as exc:
        checks.append(Check("planner statistics", ok=False, warning=True,
                            detail=f"ANALYZE failed: {redact(str(exc).strip())}; run it by hand, or let autovacuum"))
        return None
    seconds = time.monotonic() - started
    say(f"planner statistics: analyzed {count} tables in {format_duration(seconds)} (pg_dump does not carry them)")
    return round(seconds, 3)


def restore_snapshot_backup(
    settings: Settings,
    backup_id: str,
    *,
    into: str,
    store_uri: str | None = None,
    progress: Progress | None = None,
) -> StepResult:
    """Restore the managed snapshot recorded with a backup into a *new* instance/cluster ``into``."""
    from pgwarden.snapshots import restore_snapshot

    say = progress or _quiet
    started = time.monotonic()
    store = open_store(store_uri or settings.backup.store, settings)
    manifest = resolve_backup(store, backup_id)
    snapshot = manifest.snapshot or {}
    if not snapshot.get("id"):
        raise OperationFailed(
            f"backup {manifest.id} has no managed snapshot"
            + (f" (it failed: {snapshot['error']})" if snapshot.get("error") else ""),
            hint="restore the logical backup instead: drop --snapshot",
        )
    described = restore_snapshot(settings, snapshot, into, say)
    duration = time.monotonic() - started
    endpoint = described.get("endpoint") or {}
    return StepResult(
        "restore", ok=True,
        summary=f"restored snapshot {snapshot['id']} into new {snapshot.get('kind', 'instance')} {into} "
        f"({endpoint.get('address')}:{endpoint.get('port')}) in {format_duration(duration)}",
        duration_s=duration,
        checks=[Check("within the recovery time objective", ok=duration <= settings.restore.rto, warning=True,
                      detail=f"{format_duration(duration)} against restore.rto "
                      f"{format_duration(settings.restore.rto)}")],
        details={"backup_id": manifest.id, "mode": "snapshot", "snapshot": described},
    )
