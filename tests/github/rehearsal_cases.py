"""Result folders of a run with a rehearsal, for the comment's rehearsal snapshot and width tests.

The Prisma run of :mod:`tests.github.comment_cases` (its plan: drop a column, a 201-statement
backfill) with the rehearse job's artifact added as the workflow uploads it:
``pgwarden-rehearse-production-default/`` holding ``rehearse.json`` (the shape
``pgwarden rehearse --format json`` prints) and ``outcomes.json``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pgwarden.report import comment as rc
from pgwarden.report import results as rr
from tests.github import comment_cases as cases

#: When the comment is rendered: 4 min 05 s after the backup was taken.
NOW = datetime(2026, 12, 2, 15, 44, 5, tzinfo=timezone.utc)
SCRATCH = "pgwarden_rehearse_20261202T154000Z-4f2a9c_9d1e"


def rehearse_document(state: str) -> dict[str, Any]:
    """``passed``: both applied, short locks; ``blocked``: the backfill holds ACCESS EXCLUSIVE for 41 s,
    then a third migration fails on duplicates (23505)."""
    drop = {"name": cases.DROP, "status": "applied", "duration_s": 0.42, "error": None, "sqlstate": None,
            "locks": [{"table": "public.User", "mode": "AccessExclusiveLock", "held_s": 0.31}],
            "rewritten": [], "statements": [], "rows_written": 0, "wal_bytes": 18_432, "measured_with": []}
    backfill_s = 1.4 if state == "passed" else 41.2
    backfill = {"name": cases.BACKFILL, "status": "applied", "duration_s": backfill_s + 1.1, "error": None,
                "sqlstate": None,
                "locks": [{"table": "public.Post", "mode": "AccessExclusiveLock", "held_s": backfill_s},
                          {"table": "public.User", "mode": "AccessShareLock", "held_s": 0.2}],
                "rewritten": [], "statements": [], "rows_written": 8_400_000, "wal_bytes": 2_950_000_000,
                "measured_with": []}
    migrations = [drop, backfill]
    if state == "blocked":
        migrations.append({
            "name": cases.INDEX, "status": "failed", "duration_s": 12.6, "sqlstate": "23505",
            "error": 'could not create unique index "Post_authorId_publishedAt_idx"',
            "locks": [{"table": "public.Post", "mode": "ShareLock", "held_s": 12.5}], "rewritten": [],
            "statements": [], "rows_written": None, "wal_bytes": None, "measured_with": []})
    return {"version": 1, "backup_id": "20261202T154000Z-4f2a9c", "scratch_database": SCRATCH, "dropped": True,
            "migrations": migrations, "ok": state == "passed", "database": "shop", "server": "db.internal:5432",
            "backup_taken_at": "2026-12-02T15:40:00.000Z", "rehearsed_at": "2026-12-02T15:42:30.000Z",
            "restore_s": 94.0, "migrate_s": sum(m["duration_s"] for m in migrations), "sample_interval_s": 0.01,
            "tool": "prisma"}


def write_run(root: Path, state: str) -> Path:
    """The rehearse job's results as its own render sees them: the plan's artifact and the rehearse one."""
    cases.write_run(root, "awaiting")
    plan = root / "pgwarden-plan-production" / "plan.json"
    if state == "blocked":  # the index migration is pending too
        doc = json.loads(plan.read_text())
        doc["migrations"].append({"name": cases.INDEX, "path": f"prisma/migrations/{cases.INDEX}/migration.sql",
                                  "status": "pending", "sql": cases.INDEX_SQL})
        plan.write_text(json.dumps(doc))
    folder = root / "pgwarden-rehearse-production-default"
    folder.mkdir()
    (folder / "rehearse.json").write_text(json.dumps(rehearse_document(state)))
    outcome = "success" if state == "passed" else "failure"
    (folder / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": {"rehearse": outcome}}))
    return root


def info(state: str) -> rc.RunInfo:
    base = cases.info("awaiting")
    base.outcomes["rehearse"] = "success" if state == "passed" else "failure"
    base.outcomes["migrate"] = "pending"
    base.now = NOW
    return base


def render(tmp_path: Path, state: str) -> str:
    return rc.render_report(info(state), rr.load_results(write_run(tmp_path / state, state)),
                            full_link="https://github.com/acme/shop/actions/runs/4242")
