"""``run_drill``: prove the newest verified backup of the database restores, before anyone needs it to.

The backup drilled is the target database's (its name and server): another database's backup in
the same store proves nothing about this one.

Restore it into a scratch database on the same server, check row counts against the manifest
(exactly, as after any restore), run the configured ``verify.checks`` on the copy the way verify
runs them (:func:`~pgwarden.pipeline.checks.run_sql_check`), drop the copy, and report the
backup's age, the recovery time against ``restore.rto`` (the span restore measures,
:class:`~pgwarden.pipeline.checks.RecoveryClock`) and the row-count match. The drill fails
(exit 1) when a step fails or when the newest verified backup is older than ``drill.max_age`` /
``--max-age``.
"""

from __future__ import annotations

import secrets
import time

from psycopg import sql as pgsql

from pgwarden.config import Settings
from pgwarden.durations import format_duration
from pgwarden.errors import OperationFailed
from pgwarden.manifest import by_database, latest_verified
from pgwarden.pg.connection import DatabaseTarget, connect
from pgwarden.pg.identity import read_identity
from pgwarden.pipeline.checks import RecoveryClock, run_sql_check
from pgwarden.pipeline.restore_load import restore_manifest
from pgwarden.records import Check, Progress, StepResult
from pgwarden.stores import open_store


def _quiet(_: str) -> None:
    pass


def run_drill(
    settings: Settings,
    target: DatabaseTarget,
    *,
    store_uri: str | None = None,
    max_age: float | None = None,
    progress: Progress | None = None,
) -> StepResult:
    """Restore the newest verified backup into a scratch copy, check it, drop it; ``ok`` when all passed."""
    say = progress or _quiet
    started = time.monotonic()
    clock = RecoveryClock()
    store = open_store(store_uri or settings.backup.store, settings)
    identity = read_identity(target)
    manifests = store.list_manifests()
    manifest = latest_verified(manifests, identity)
    if manifest is None:
        others = list(by_database(m for m in manifests if m.verified))  # none of them is this database's
        detail = ("; the store holds verified backups of other databases only: "
                  + ", ".join(who.describe() for who in others)) if others else ""
        raise OperationFailed(
            f"drill: no verified backup of {identity.describe()} in {store.uri}: there is nothing that could be "
            f"restored{detail}",
            hint="run pgwarden backup (e.g. on a schedule) and drill again")
    limit = max_age if max_age is not None else settings.drill.max_age
    age = manifest.age_s()
    scratch = f"pgwarden_drill_{manifest.id.split('-')[0].lower()}_{secrets.token_hex(3)}"
    say(f"drill: restoring {manifest.id} (age {format_duration(age)}) into scratch database {scratch}")
    outcome = restore_manifest(settings, target, store, manifest, into=scratch, say=say, clock=clock)
    copy = target.with_dbname(scratch)
    checks: list[Check] = list(outcome.checks)
    try:
        with connect(copy) as conn:
            for check in settings.verify.checks:
                checks.append(run_sql_check(conn, check))
    finally:
        with connect(target) as conn:
            conn.execute(pgsql.SQL("drop database if exists {} with (force)").format(pgsql.Identifier(scratch)))
        say(f"drill: dropped {scratch}")
    checks.append(Check(
        "backup age", ok=age <= limit,
        detail=f"newest verified backup is {format_duration(age)} old; maximum {format_duration(limit)}",
    ))
    rto = settings.restore.rto
    checks.append(clock.check(rto))
    ok = all(c.ok or c.warning for c in checks)
    failed = [c.name for c in checks if not c.ok and not c.warning]
    summary = (
        f"drill {'passed' if ok else 'FAILED'}: backup {manifest.id} ({format_duration(age)} old) restored in "
        f"{format_duration(clock.seconds)}" + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return StepResult(
        "drill", ok=ok, summary=summary, duration_s=time.monotonic() - started, checks=checks,
        details={
            "backup_id": manifest.id,
            "store": store.uri,
            "backup_age_s": round(age, 1),
            "max_age_s": limit,
            "restore_s": round(clock.seconds, 3),
            "rto_s": rto,
            "scratch_database": scratch,
            "rows": outcome.rows,
        },
    )
