"""``pgwarden status``: where does this database stand?

Read-only: the server, the migration tool's view (applied / pending / failed / edited, and
unknown: started and not finished, :mod:`pgwarden.pipeline.unfinished`), the
newest verified backup in the configured store and the last deploys recorded in the database.
The seed's ``db:monitor`` and ``migrate:status`` in one place.
"""

from __future__ import annotations

import time
from typing import Any

from pgwarden.config import Settings
from pgwarden.errors import ConfigError, PgwardenError
from pgwarden.manifest import DatabaseIdentity
from pgwarden.pg.catalog import user_tables
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pg.identity import identity_of
from pgwarden.pipeline.unfinished import Unfinished, migrations_with_unknown, resolve_command
from pgwarden.records import Check, MigrationStatus, StepResult
from pgwarden.tools import get_tool


def database_status(settings: Settings, target: DatabaseTarget) -> StepResult:
    started = time.monotonic()
    checks: list[Check] = []
    details: dict[str, Any] = {"database": target.dbname, "server": target.display()}
    with connection(target) as conn:
        details["server_version"] = conn.execute("show server_version").fetchone()[0]  # type: ignore[index]
        details["tables"] = len(user_tables(conn))
        identity = identity_of(conn, target)
        tool = get_tool(settings)
        unknown: list[Unfinished] = []
        try:
            migrations, unknown = migrations_with_unknown(tool, conn, target.dbname)
        except ConfigError:
            raise  # a file pgwarden refuses to read (NUL byte, not UTF-8): exit 2, naming it
        except PgwardenError as exc:
            migrations = []
            checks.append(Check("migrations readable", False, str(exc)))
        by_status: dict[str, list[str]] = {s.value: [] for s in MigrationStatus}
        for m in migrations:
            by_status[m.status.value].append(m.name)
        details["migrations"] = {"tool": tool.name, **by_status, "head": tool.head(conn)}
        details["unfinished"] = [u.to_json() for u in unknown]
        if migrations:
            checks.append(Check("no unfinished migration", not unknown, "; ".join(
                f"{u.migration} ({u.why}): {resolve_command(u.migration)}" for u in unknown)))
            checks.append(Check("no failed migration", not by_status["failed"], ", ".join(by_status["failed"])))
            checks.append(Check("no migration edited after apply", not by_status["edited"],
                                ", ".join(by_status["edited"])))
            checks.append(Check("no pending migration", not by_status["pending"],
                                f"{len(by_status['pending'])} pending", warning=True))
        try:
            from pgwarden.audit import last_deploys

            details["last_deploys"] = last_deploys(conn, 5)
        except PgwardenError as exc:
            details["last_deploys"] = []
            checks.append(Check("deploy history readable", False, str(exc), warning=True))
    details["latest_backup"] = _latest_backup(settings, checks, identity)
    ok = all(c.ok or c.warning for c in checks)
    pending = len(details["migrations"]["pending"])
    summary = (f"{details['migrations']['head'] or 'no migration'} applied, {pending} pending"
               + ("" if ok else "; attention needed"))
    return StepResult("status", ok, summary, time.monotonic() - started, checks, details)


def _latest_backup(settings: Settings, checks: list[Check], identity: DatabaseIdentity) -> dict[str, Any] | None:
    """The newest verified backup of this database (name and server), not of whichever database the
    store holds."""
    from pgwarden.stores import open_store

    try:
        manifest = open_store(settings.backup.store, settings).latest_verified(identity)
    except PgwardenError as exc:
        checks.append(Check("backup store readable", False, str(exc), warning=True))
        return None
    if manifest is None:
        checks.append(Check("a verified backup exists", False, f"none of {identity.label()} in {settings.backup.store}",
                            warning=True))
        return None
    return {"id": manifest.id, "created_at": manifest.created_at, "size_bytes": manifest.size_bytes,
            "store": manifest.store}
