"""``pgwarden verify``: prove the database is sound after a deploy (the seeds' 事後確認).

Checks, each a :class:`~pgwarden.records.Check` (a failed ``warning`` check does not fail the step):

- migration history: every migration of the folder is applied, none failed or edited (per tool);
- schema health: no INVALID index (a failed ``CREATE INDEX CONCURRENTLY``), no table that lost
  the primary key it had when the last deploy started; NOT VALID constraints are warnings;
- data: row counts of the tables the migrations did not touch, against the backup manifest,
  within ``verify.row_count_tolerance`` (a drop beyond it fails; growth is live traffic);
- the custom SQL checks of ``verify.checks`` and the ``verify.health_urls``.

The comparison backup is ``--backup-id``, else the one the last recorded deploy used.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from pgwarden.audit import latest_deploy
from pgwarden.config import Settings, VerifyCheck
from pgwarden.errors import OperationFailed, PgwardenError
from pgwarden.names import BOOKKEEPING_TABLES
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pg.tables import count_rows, plan_counts, split_name
from pgwarden.records import Check, MigrationStatus, StepResult
from pgwarden.redact import redact
from pgwarden.risk.touched import tables_touched
from pgwarden.tools import get_tool

Progress = Callable[[str], None]
QUERY_TIMEOUT = "30s"


def _noop(_message: str) -> None:
    return None


def ordered(checks: list[Check]) -> list[Check]:
    """Failing checks first, then failing warnings, then the passing ones (stable within each)."""
    return sorted(checks, key=lambda c: 2 if c.ok else (1 if c.warning else 0))


# --- migration history ------------------------------------------------------------------------


def check_history(
    settings: Settings, conn: psycopg.Connection[Any], *, restored_head: str | None = None, after_restore: bool = False
) -> tuple[list[Check], list[Any]]:
    """Migration history checks. After a restore the expected state is the backup's head:
    migrations after it are pending again, which is reported (with the way back) but not a failure."""
    tool = get_tool(settings)
    try:
        migrations = tool.migrations(conn)
    except PgwardenError as exc:
        return [Check("migration history readable", False, redact(str(exc)))], []
    by_status: dict[MigrationStatus, list[str]] = {s: [] for s in MigrationStatus}
    for m in migrations:
        by_status[m.status].append(m.name)
    failed = set(by_status[MigrationStatus.FAILED])
    failed_of = getattr(tool, "failed", None)
    if callable(failed_of):
        failed |= {m.name for m in failed_of(conn)}
    pending = by_status[MigrationStatus.PENDING]
    head = tool.head(conn)
    if after_restore:
        detail = f"head {head or 'none'}"
        if head != restored_head:
            detail += f", the backup was at {restored_head or 'none'}"
        history = [Check("migration head matches the backup", head == restored_head, detail)]
        if pending:
            history.append(Check(
                "migrations after the backup are pending again", False,
                f"{', '.join(pending)}: re-apply them with pgwarden deploy once the cause is fixed", warning=True,
            ))
    else:
        history = [Check("every migration applied", not pending,
                         ("not applied: " + ", ".join(pending)) if pending
                         else f"{len(by_status[MigrationStatus.APPLIED])} applied, head {head or 'none'}")]
    on_disk = {m.name for m in migrations}
    missing_files = [name for name in tool.recorded(conn) if name not in on_disk]
    checks = [
        *history,
        Check("every applied migration has its file", not missing_files,
              ("recorded as applied but not in the folder (deleted or renamed after it ran): "
               + ", ".join(missing_files)) if missing_files else ""),
        Check("no failed migration", not failed, ", ".join(sorted(failed))),
        Check("no migration edited after it was applied", not by_status[MigrationStatus.EDITED],
              ", ".join(by_status[MigrationStatus.EDITED])),
    ]
    return checks, migrations


# --- schema health ----------------------------------------------------------------------------

_USER_SCHEMAS = "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%%'"


def tables_with_primary_key(conn: psycopg.Connection[Any]) -> list[str]:
    """``schema.table`` of every user table that has a primary key (recorded by deploy)."""
    rows = conn.execute(
        "select n.nspname || '.' || c.relname from pg_constraint k join pg_class c on c.oid = k.conrelid "
        f"join pg_namespace n on n.oid = c.relnamespace where k.contype = 'p' and {_USER_SCHEMAS} order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def check_schema(conn: psycopg.Connection[Any], pk_before: list[str] | None) -> list[Check]:
    invalid = [r[0] for r in conn.execute(
        "select n.nspname || '.' || c.relname || ' on ' || t.relname from pg_index i "
        "join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid "
        f"join pg_namespace n on n.oid = c.relnamespace where not i.indisvalid and {_USER_SCHEMAS} order by 1"
    ).fetchall()]
    not_valid = [r[0] for r in conn.execute(
        "select k.conname || ' on ' || n.nspname || '.' || c.relname from pg_constraint k "
        "join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace "
        f"where not k.convalidated and {_USER_SCHEMAS} order by 1"
    ).fetchall()]
    checks = [
        Check("no INVALID index", not invalid,
              ("left by a failed CREATE INDEX CONCURRENTLY? drop and re-create: " + ", ".join(invalid))
              if invalid else ""),
        Check("no NOT VALID constraint", not not_valid,
              ("run ALTER TABLE ... VALIDATE CONSTRAINT: " + ", ".join(not_valid)) if not_valid else "",
              warning=True),
    ]
    if pk_before is not None:
        existing = {r[0] for r in conn.execute(
            "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            f"where c.relkind in ('r', 'p') and {_USER_SCHEMAS}"
        ).fetchall()}
        now = set(tables_with_primary_key(conn))
        lost = sorted(t for t in pk_before if t in existing and t not in now)
        checks.append(Check("no table lost its primary key", not lost,
                            ("had one before the last deploy: " + ", ".join(lost)) if lost else ""))
    return checks


# --- row counts -------------------------------------------------------------------------------


@dataclass
class RowCount:
    table: str
    before: int
    after: int | None
    exact: bool

    @property
    def change(self) -> float:
        if self.after is None:
            return -1.0
        return (self.after - self.before) / max(self.before, 1)

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "before": self.before, "after": self.after, "exact": self.exact,
                "change": round(self.change, 4)}


def _touched_names(migration_sql: list[str | None]) -> set[str] | None:
    names: set[str] = set()
    for text in migration_sql:
        found = tables_touched(text) if text else None
        if found is None:
            return None
        for n in found:
            schema, table = n.schema_or_public, n.name
            names.add(f"{schema}.{table}")
    return names


def check_row_counts(
    conn: psycopg.Connection[Any], manifest: Any, touched: set[str] | None, tolerance: float
) -> tuple[list[Check], list[RowCount]]:
    tables = {str(t): int(n) for t, n in manifest.tables.items()}
    # A manifest from before exact counts were recorded holds exact counts only.
    plan = plan_counts(conn, tables, set(getattr(manifest, "exact_tables", []) or []) or set(tables))
    counts: list[RowCount] = []
    skipped: list[str] = []
    for table, before in sorted(plan.expected.items()):
        members = plan.partitions.get(table, [table])
        # Bookkeeping tables change with every deploy by design: never compared with the backup.
        if split_name(table)[1] in BOOKKEEPING_TABLES:
            continue
        if touched is not None and any("{}.{}".format(*split_name(n)) in touched for n in [table, *members]):
            skipped.append(table)
            continue
        exact = table in plan.exact
        if exact or table not in plan.partitions:
            after = count_rows(conn, table, exact)
        else:  # the planner's estimates of the partitions (a partitioned table has none of its own)
            estimates = [count_rows(conn, m, False) for m in members]
            after = None if None in estimates else sum(e for e in estimates if e is not None)
        counts.append(RowCount(table, before, after, exact))
    problems, growth = [], []
    for c in counts:
        allowed = math.ceil(tolerance * c.before)
        if c.after is None:
            problems.append(f"{c.table} is gone (had {c.before} rows)")
        elif c.before - c.after > allowed:
            problems.append(f"{c.table}: {c.before} -> {c.after} rows ({c.change:+.1%})")
        elif c.after - c.before > allowed:
            growth.append(f"{c.table}: {c.before} -> {c.after} ({c.change:+.1%})")
    # Estimates (reltuples) are only a warning: they drift without anything being wrong.
    only_estimates = bool(counts) and not any(c.exact for c in counts)
    detail = "; ".join(problems) if problems else (
        f"{len(counts)} table(s) within {tolerance:.0%} of backup {manifest.id}"
        + (f"; grew: {'; '.join(growth)}" if growth else "")
        + (f"; not compared (changed by the migrations): {', '.join(skipped)}" if skipped else "")
        + ("" if touched is not None else "; the migrations' tables are unknown, so every table was compared")
    )
    warning = only_estimates or touched is None
    return [Check("row counts match the backup", not problems, detail, warning=warning)], counts


# --- custom checks and health URLs ------------------------------------------------------------


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("t", "true", "yes", "on", "1")
    return value is True or (isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0)


def _equal(value: Any, expect: str) -> bool:
    if str(value) == expect:
        return True
    try:
        return float(str(value)) == float(expect)
    except ValueError:
        return isinstance(value, bool) and _truthy(expect) == value


def run_custom_check(conn: psycopg.Connection[Any], check: VerifyCheck) -> Check:
    """Run one ``verify.checks`` query read-only; true (or ``expect``) passes."""
    try:
        with conn.transaction():
            conn.execute("set transaction read only")
            conn.execute(f"set local statement_timeout = '{QUERY_TIMEOUT}'")
            row = conn.execute(check.sql).fetchone()
    except psycopg.Error as exc:
        return Check(check.name, False, f"query failed: {redact(str(exc).strip())}")
    value = row[0] if row else None
    if check.expect is None:
        return Check(check.name, _truthy(value), f"returned {value!r}, expected true")
    return Check(check.name, _equal(value, check.expect), f"returned {value!r}, expected {check.expect!r}")


def check_health_url(url: str, *, timeout_s: float, retries: int, backoff_s: float = 1.0) -> Check:
    """GET ``url`` until it answers 2xx/3xx, at most ``retries + 1`` times."""
    if not url.startswith(("http://", "https://")):
        return Check(f"health {redact(url)}", False, "expected an http:// or https:// URL")
    last = ""
    for attempt in range(retries + 1):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked above
                status = int(response.status)
            elapsed = time.monotonic() - started
            return Check(f"health {redact(url)}", True, f"HTTP {status} in {elapsed * 1000:.0f}ms"
                         + (f" (after {attempt} retries)" if attempt else ""))
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            time.sleep(backoff_s * (attempt + 1))
    return Check(f"health {redact(url)}", False, redact(f"{last} after {retries + 1} attempt(s)"))


# --- the step ---------------------------------------------------------------------------------


def _load_manifest(settings: Settings, target: DatabaseTarget, backup_id: str) -> tuple[Any, Check | None]:
    from pgwarden.stores import open_store

    try:
        manifest = open_store(settings.backup.store, settings).get_manifest(backup_id)
    except OperationFailed as exc:
        return None, Check("backup manifest readable", False, redact(str(exc)))
    if manifest.database != target.dbname:
        return None, Check("backup manifest readable", False,
                           f"backup {backup_id} is of {manifest.database!r}, not {target.dbname!r}")
    return manifest, None


def run_verify(
    settings: Settings,
    target: DatabaseTarget,
    *,
    backup_id: str | None = None,
    restored_from: str | None = None,
    progress: Progress | None = None,
    health_backoff_s: float = 1.0,
) -> StepResult:
    """Run every check; ``ok`` is False when any non-warning check failed.

    ``restored_from`` verifies a restore instead of a deploy: the database must be at that
    backup's migration head with every table's rows as the backup recorded them.
    """
    say = progress or _noop
    started = time.monotonic()
    checks: list[Check] = []
    details: dict[str, Any] = {"database": target.dbname}
    with connection(target) as conn:
        say(f"verifying {target.display()}")
        restored_manifest = None
        if restored_from:
            restored_manifest, problem = _load_manifest(settings, target, restored_from)
            if problem is not None:
                checks.append(problem)
            details["restored_from"] = restored_from
        history_checks, migrations = check_history(
            settings, conn, after_restore=restored_from is not None,
            restored_head=restored_manifest.migration_head if restored_manifest is not None else None,
        )
        checks += history_checks
        last = latest_deploy(conn)
        details["last_deploy"] = None if last is None else {
            k: last[k] for k in ("run_id", "outcome", "backup_id", "migrations_applied")}
        deploy_details = (last or {}).get("details") or {}
        checks += check_schema(conn, deploy_details.get("tables_with_pk") if last else None)

        backup_id = restored_from or backup_id or (last or {}).get("backup_id")
        details["backup_id"] = backup_id
        if restored_from:
            if restored_manifest is not None:  # (an unreadable manifest was reported above)
                # Nothing ran since the restore: every table must hold what the backup recorded.
                row_checks, counts = check_row_counts(conn, restored_manifest, set(),
                                                      settings.verify.row_count_tolerance)
                checks += row_checks
                details["row_counts"] = [c.to_json() for c in counts]
        elif backup_id:
            manifest, problem = _load_manifest(settings, target, backup_id)
            if problem is not None:
                checks.append(problem)
            elif manifest is not None:
                applied = set((last or {}).get("migrations_applied") or [])
                if not applied and manifest.migration_head is not None:
                    # No deploy record: the migrations after the backup's head are the changed ones.
                    names = [m.name for m in migrations]
                    if manifest.migration_head in names:
                        applied = set(names[names.index(manifest.migration_head) + 1:])
                touched = _touched_names([m.sql for m in migrations if m.name in applied])
                row_checks, counts = check_row_counts(conn, manifest, touched,
                                                      settings.verify.row_count_tolerance)
                checks += row_checks
                details["row_counts"] = [c.to_json() for c in counts]
        else:
            checks.append(Check("row counts match the backup", False,
                                "no backup to compare with: pass --backup-id (or deploy with one)", warning=True))
        for custom in settings.verify.checks:
            say(f"check: {custom.name}")
            checks.append(run_custom_check(conn, custom))
    for url in settings.verify.health_urls:
        say(f"health: {redact(url)}")
        checks.append(check_health_url(url, timeout_s=settings.verify.health_timeout,
                                       retries=settings.verify.health_retries, backoff_s=health_backoff_s))
    checks = ordered([Check(redact(c.name), c.ok, redact(c.detail), c.warning) for c in checks])
    failing = [c for c in checks if not c.ok and not c.warning]
    warnings = [c for c in checks if not c.ok and c.warning]
    ok = not failing
    if ok:
        summary = f"{len(checks)} checks passed" + (f" ({len(warnings)} warning(s))" if warnings else "")
    else:
        summary = f"{len(failing)} of {len(checks)} checks failed: " + ", ".join(c.name for c in failing)
    return StepResult("verify", ok, summary, time.monotonic() - started, checks, details)


def to_markdown(result: StepResult) -> str:
    """The verify result as a Markdown table (for the step summary and the PR comment)."""
    icon = {True: "✅", False: "❌"}
    lines = [f"### pgwarden verify: {'passed' if result.ok else 'failed'}", "", result.summary, "",
             "| | check | detail |", "|---|---|---|"]
    for c in result.checks:
        mark = icon[c.ok] if c.ok or not c.warning else "⚠️"
        detail = c.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {mark} | {c.name} | {detail} |")
    return "\n".join(lines) + "\n"
