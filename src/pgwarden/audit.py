"""The audit trail: the seeds' migration log (監視・ログ戦略), as data.

Two sinks, written for every deploy:

- a JSON-lines file (``deploy.audit_log``): one line per step with time, actor, environment,
  git sha, run id, action, outcome and duration. In GitHub Actions ``pgwarden report
  check-environment`` writes an ``approval`` line first, with ``approved_by`` (who approved the
  run's deployment to the environment); every later line of the same run repeats ``approved_by``;
- a ``pgwarden_history`` table in the target database: one row per deploy (who, when,
  environment, migrations applied, backup id, outcome), read back by :func:`last_deploys`
  for ``pgwarden status``.

Every value passes through :func:`pgwarden.redact.redact` before it is written.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.names import AUDIT_TABLE
from pgwarden.pg.connection import table_exists
from pgwarden.redact import redact, redact_data

_TABLE = sql.Identifier(AUDIT_TABLE)
_HISTORY_DDL = sql.SQL("""
create table if not exists {table} (
    id bigserial primary key,
    run_id text,
    started_at timestamptz not null,
    finished_at timestamptz not null default now(),
    actor text,
    environment text,
    git_sha text,
    tool text,
    migrations_applied text[] not null default '{{}}',
    backup_id text,
    no_backup_reason text,
    outcome text not null,
    failed_migration text,
    error text,
    max_wait_ms bigint,
    details jsonb
)
""").format(table=_TABLE)


def current_actor(env: dict[str, str] | None = None) -> str:
    """Who deploys: ``GITHUB_ACTOR`` in Actions, else the local user."""
    environ = os.environ if env is None else env
    actor = environ.get("GITHUB_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (``docker run --user 1234``)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def current_git_sha(cwd: str | None = None, env: dict[str, str] | None = None) -> str | None:
    """``GITHUB_SHA`` in Actions, else ``git rev-parse HEAD`` when git and a repository are there."""
    environ = os.environ if env is None else env
    if environ.get("GITHUB_SHA"):
        return environ["GITHUB_SHA"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and sha else None


def new_run_id(env: dict[str, str] | None = None) -> str:
    """``GITHUB_RUN_ID`` (plus attempt) in Actions, else a local timestamp id."""
    environ = os.environ if env is None else env
    run = environ.get("GITHUB_RUN_ID")
    if run:
        attempt = environ.get("GITHUB_RUN_ATTEMPT")
        return f"{run}-{attempt}" if attempt else run
    return "local-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


#: How much of the end of the audit log is searched for this run's approval line: it was written
#: minutes earlier in the same job, so it is near the end of a log of any size.
_APPROVAL_TAIL_BYTES = 256 * 1024


def run_approvers(path: Path, run_id: str) -> list[str] | None:
    """``approved_by`` of run ``run_id``'s newest ``approval`` line, or None when there is none."""
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _APPROVAL_TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace").splitlines()
    for text in reversed(tail):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue  # the first, cut line of the tail
        if isinstance(line, dict) and line.get("action") == "approval" and line.get("run_id") == run_id:
            approvers = line.get("approved_by")
            return [str(a) for a in approvers] if isinstance(approvers, list) else None
    return None


@dataclass
class AuditLog:
    """Appends one JSON line per step to ``path``; the context fields repeat on every line.

    ``approved_by`` (who approved this run's deployment) defaults to what this run's ``approval``
    line in the same log says, so a deploy after ``report check-environment`` carries it.
    """

    path: Path
    actor: str
    environment: str | None
    git_sha: str | None
    run_id: str
    database: str
    approved_by: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.approved_by is None:
            self.approved_by = run_approvers(self.path, self.run_id)

    def write(self, action: str, outcome: str, *, duration_s: float | None = None, **fields: Any) -> dict[str, Any]:
        """Append one line and return it (as written, redacted)."""
        line: dict[str, Any] = {
            "time": _now(),
            "actor": self.actor,
            "environment": self.environment,
            "git_sha": self.git_sha,
            "run_id": self.run_id,
            "database": self.database,
            "action": action,
            "outcome": outcome,
        }
        if self.approved_by is not None:
            line["approved_by"] = list(self.approved_by)
        if duration_s is not None:
            line["duration_s"] = round(duration_s, 3)
        line.update(fields)
        line = redact_data(line)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        return line


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    """Every line of an audit log (for tests and ``status``); missing file = empty."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class DeployRecord:
    """One row of ``pgwarden_history``."""

    run_id: str
    started_at: dt.datetime
    actor: str
    environment: str | None
    git_sha: str | None
    tool: str
    migrations_applied: list[str]
    backup_id: str | None
    no_backup_reason: str | None
    outcome: str
    failed_migration: str | None = None
    error: str | None = None
    max_wait_s: float | None = None
    details: dict[str, Any] | None = None


def record_deploy(conn: psycopg.Connection[Any], record: DeployRecord) -> None:
    """Insert one row into ``pgwarden_history`` (creating the table on first use)."""
    conn.execute(_HISTORY_DDL)
    conn.execute(
        sql.SQL(
            "insert into {table} (run_id, started_at, actor, environment, git_sha, tool, "
            "migrations_applied, backup_id, no_backup_reason, outcome, failed_migration, error, max_wait_ms, "
            "details) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(table=_TABLE),
        (
            record.run_id,
            record.started_at,
            record.actor,
            record.environment,
            record.git_sha,
            record.tool,
            list(record.migrations_applied),
            record.backup_id,
            redact(record.no_backup_reason) if record.no_backup_reason else None,
            record.outcome,
            record.failed_migration,
            redact(record.error) if record.error else None,
            None if record.max_wait_s is None else int(record.max_wait_s * 1000),
            Jsonb(redact_data(record.details)) if record.details is not None else None,
        ),
    )


def last_deploys(conn: psycopg.Connection[Any], limit: int = 10) -> list[dict[str, Any]]:
    """The newest ``limit`` deploys, newest first; empty when none was ever recorded.

    Each dict has: run_id, started_at, finished_at (datetimes), actor, environment, git_sha, tool,
    migrations_applied (list), backup_id, no_backup_reason, outcome ("succeeded"/"failed", or
    "resolved-applied"/"resolved-rolled-back" for a ``pgwarden resolve``, whose migration is
    ``failed_migration`` and reason ``error``), failed_migration, error, max_wait_s.
    """
    if not table_exists(conn, AUDIT_TABLE):
        return []
    cur = conn.execute(
        sql.SQL(
            "select run_id, started_at, finished_at, actor, environment, git_sha, tool, migrations_applied, "
            "backup_id, no_backup_reason, outcome, failed_migration, error, max_wait_ms from {table} "
            "order by finished_at desc, id desc limit %s"
        ).format(table=_TABLE),
        (limit,),
    )
    cols = [d.name for d in cur.description or []]
    result = []
    for row in cur.fetchall():
        item = dict(zip(cols, row, strict=True))
        wait_ms = item.pop("max_wait_ms")
        item["max_wait_s"] = None if wait_ms is None else wait_ms / 1000
        item["migrations_applied"] = list(item["migrations_applied"] or [])
        result.append(item)
    return result


def latest_deploy(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The newest ``pgwarden_history`` row of a deploy with its ``details`` (what verify compares
    against); the rows ``pgwarden resolve`` writes (outcome ``resolved-…``) are not deploys."""
    if not table_exists(conn, AUDIT_TABLE):
        return None
    cur = conn.execute(
        sql.SQL(
            "select run_id, outcome, backup_id, migrations_applied, details from {table} "
            "where outcome not like 'resolved-%' order by finished_at desc, id desc limit 1"
        ).format(table=_TABLE)
    )
    row = cur.fetchone()
    if row is None:
        return None
    cols = [d.name for d in cur.description or []]
    item = dict(zip(cols, row, strict=True))
    item["migrations_applied"] = list(item["migrations_applied"] or [])
    item["details"] = item["details"] or {}
    return item
