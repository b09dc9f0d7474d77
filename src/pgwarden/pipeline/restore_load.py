"""Loading a checked backup into a database: in place, or into a new one (``--into``, the drill).

- **In place** the backup's schemas are emptied and refilled in one transaction of pgwarden's own, after
  :func:`~pgwarden.pg.inplace.plan_replace` has refused, before anything changes, what would fail
  (objects the role does not own). It commits only once the row counts match the manifest; any
  failure leaves the database as it was. pgwarden's audit table keeps its rows (the deploys since).
- **Into a new database** nothing is there to keep atomic: the data is loaded over ``restore.jobs``
  sessions at once, and a failure drops the new database. :func:`switch_over_commands` prints how
  to put it in the old one's place.

Afterwards the row counts are compared with the manifest (:mod:`pgwarden.pipeline.rowcounts`,
the after-a-restore policy) and the :class:`~pgwarden.pipeline.checks.RecoveryClock` stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
from psycopg import sql as pgsql

from pgwarden.config import Settings
from pgwarden.errors import OperationFailed, SafetyRefusal
from pgwarden.manifest import BackupManifest
from pgwarden.pg.archive import read_toc
from pgwarden.pg.binaries import ClientProgram, find_client
from pgwarden.pg.catalog import current_role, database_exists, setting_names
from pgwarden.pg.connection import DatabaseTarget, connect, quote_ident, server_version
from pgwarden.pg.inplace import ReplacePlan, parse_toc, plan_replace
from pgwarden.pg.restore_atomic import ROLLED_BACK, BeforeCommit, restore_filtered
from pgwarden.pg.restore_parallel import restore_parallel
from pgwarden.pg.restore_session import RestoreRun
from pgwarden.pg.script import FREEZE_REFUSED
from pgwarden.pipeline.checks import RecoveryClock
from pgwarden.pipeline.restore_source import FetchedArchive, fetch_archive
from pgwarden.pipeline.rowcounts import RowCount, RowCountPolicy, compare_rows
from pgwarden.records import Check, Progress
from pgwarden.stores import BackupStore
from pgwarden.units import format_bytes


@dataclass
class RestoreOutcome:
    manifest: BackupManifest
    run: RestoreRun
    checks: list[Check] = field(default_factory=list)
    #: restore's and drill's ``rows``: table -> expected, actual, exact (and the partitions summed)
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
    clock: RecoveryClock,
) -> RestoreOutcome:
    """Fetch + check, then restore into ``target`` (in place) or a new database ``into``; count the
    rows and stop ``clock``."""
    with connect(target) as conn:
        major, _ = server_version(conn)
        known = setting_names(conn)
        if into is not None and database_exists(conn, into):
            raise SafetyRefusal(
                f"database {into} already exists on {target.display()}: --into only creates a new "
                "database, nothing was changed",
                hint="choose another name, or restore in place with --confirm",
            )
    pg_restore = find_client("pg_restore", max(major, manifest.pg_dump_major))
    say(f"reading backup {manifest.id} ({format_bytes(manifest.size_bytes)}) from {store.uri} and checking it")
    archive = fetch_archive(store, manifest, say)
    say(f"checksums match ({archive.seconds:.1f}s); restoring with pg_restore {pg_restore.version}")
    replace: ReplacePlan | None = None
    try:
        if into is None:
            replace = _plan_in_place(pg_restore, target, archive, say)
            destination = target
        else:
            with connect(target) as conn:
                conn.execute(pgsql.SQL("create database {}").format(pgsql.Identifier(into)))
            destination = target.with_dbname(into)
        started = time.monotonic()
        policy = RowCountPolicy.for_restore(settings.verify.row_count_tolerance)
        counted: list[tuple[list[Check], list[RowCount]]] = []
        try:
            if replace is not None or major < manifest.pg_dump_major:
                run = _restore_in_one_transaction(pg_restore, destination, archive, (known, major), replace, say,
                                                  _count_before_commit(manifest, policy, replace, counted))
            else:
                # A new database: nothing to keep atomic (a failure drops it), so the data is loaded
                # over restore.jobs sessions at once, the rows of the biggest table included.
                run = restore_parallel(pg_restore, pg_restore.sibling("psql"), destination, archive.path,
                                       jobs=max(1, settings.restore.jobs), compressed=archive.compressed,
                                       server_major=major)
        except BaseException:
            if into is not None:
                _drop_database(target, into, major)
            raise
        restore_s = time.monotonic() - started
    finally:
        archive.cleanup()
    if run.dropped_settings:
        say(f"skipped settings PostgreSQL {major} does not know: {', '.join(run.dropped_settings)}")
    if counted:  # counted inside the restore's transaction, before its COMMIT
        checks, counts = counted[-1]
    else:
        with connect(destination) as conn:
            checks, counts = compare_rows(conn, manifest, policy, loaded=run.loaded_rows)
    clock.stop()
    outcome = RestoreOutcome(manifest, run, checks, {c.table: c.restore_json() for c in counts},
                             archive.seconds, restore_s)
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


def _count_before_commit(manifest: BackupManifest, policy: RowCountPolicy, replace: ReplacePlan | None,
                         into: list[tuple[list[Check], list[RowCount]]]) -> BeforeCommit:
    """The row-count check, run in the restore's transaction: in place, a mismatch rolls it all back."""
    kept = frozenset(replace.kept_tables) if replace is not None else frozenset()

    def check(conn: psycopg.Connection[Any], loaded: dict[str, int]) -> None:
        checks, counts = compare_rows(conn, manifest, policy, loaded=loaded, kept=kept)
        into.append((checks, counts))
        if replace is not None and not checks[0].ok:
            raise OperationFailed(f"the restored rows differ from the backup ({checks[0].detail}); {ROLLED_BACK}",
                                  hint="the archive does not hold what its manifest says: restore another backup")

    return check


def _restore_in_one_transaction(pg_restore: ClientProgram, destination: DatabaseTarget, archive: FetchedArchive,
                                server: tuple[set[str], int], replace: ReplacePlan | None, say: Progress,
                                before_commit: BeforeCommit) -> RestoreRun:
    """pg_restore's script in one transaction of pgwarden's own (in place, or onto an older server)."""
    # In place, the prelude that empties the backup's schemas, the archive and the postlude that
    # puts the audit table back run in one transaction, committed only after the row counts match,
    # so any failure leaves the database as it was.
    known, major = server  # the server's settings and major version
    filtered = partial(restore_filtered, pg_restore, destination, archive.path, server_major=major,
                       known_settings=known, clean=replace is not None, compressed=archive.compressed,
                       prelude=replace.prelude() if replace is not None else b"",
                       postlude=replace.postlude() if replace is not None else b"", before_commit=before_commit)
    try:
        return filtered()
    except OperationFailed as exc:
        if FREEZE_REFUSED not in str(exc):
            raise
        # The server refused a COPY ... FREEZE pgwarden asked for: nothing was changed (one
        # transaction), so the same restore runs again with plain COPYs.
        say("the server refused COPY FREEZE for a table (nothing was changed); restoring again without it")
        return filtered(freeze=False)


def _drop_database(target: DatabaseTarget, dbname: str, major: int) -> None:
    """Drop the new database of a failed ``--into`` restore (forcing out sessions where the server can)."""
    drop = "drop database if exists {} with (force)" if major >= 13 else "drop database if exists {}"
    with connect(target) as conn:
        conn.execute(pgsql.SQL(drop).format(pgsql.Identifier(dbname)))


def _names(items: list[str], limit: int = 30) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _plan_in_place(pg_restore: ClientProgram, target: DatabaseTarget, archive: FetchedArchive,
                   say: Progress) -> ReplacePlan:
    """Read the archive's TOC and the live catalog; refuse, before touching anything, what would fail."""
    contents = parse_toc(read_toc(pg_restore, archive.path, compressed=archive.compressed))
    with connect(target) as conn:
        plan = plan_replace(conn, contents)
        user = current_role(conn) or "the restoring role"
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
        say(f"kept as it is (pgwarden's audit trail: the deploys since the backup stay listed): {_names(plan.kept)}")
    if plan.outside_dependents:
        say(f"objects outside those schemas that depend on them will be dropped too: "
            f"{_names(plan.outside_dependents)}")
    return plan


def switch_over_commands(target: DatabaseTarget, new_db: str, backup_id: str) -> list[str]:
    """The psql commands that put ``new_db`` in the target database's place (printed, not run)."""
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
