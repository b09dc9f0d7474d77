"""Result folders as a Prisma project's run leaves them, for the comment's snapshot and width tests.

The documents have the shapes ``pgwarden plan/backup/deploy/verify --format json`` print (taken from
real runs against a throwaway database, then given fixed ids and times so the text is stable), plus
``approval.json`` from ``report check-environment`` and ``outcomes.json`` from ``report collect``.
Names are Prisma's (a timestamp and a name): the longest unbreakable words a comment shows.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pgwarden.report import comment as rc
from pgwarden.report import results as rr

DROP = "20240520120000_drop_user_legacy_name"
INDEX = "20240601090000_add_posts_author_id_published_at_index"
BACKFILL = "20240602100000_backfill_post_slug"
DB = "app_ro@db.internal:5432/shop"
BACKUP_ID = "20260101T000000Z-4f2a9c"

DROP_SQL = '-- Name is now first_name/last_name\nALTER TABLE "User" DROP COLUMN "legacy_name";\n'
INDEX_SQL = 'CREATE INDEX "Post_authorId_publishedAt_idx" ON "Post"("authorId", "publishedAt");\n'
BACKFILL_SQL = ('ALTER TABLE "Post" ADD COLUMN "slug" TEXT;\n'
                + "".join(f"UPDATE \"Post\" SET \"slug\" = lower(\"title\") WHERE \"id\" % 40 = {i};\n"
                          for i in range(200)))


def _migration(name: str, sql: str, status: str = "pending") -> dict[str, Any]:
    return {"name": name, "path": f"prisma/migrations/{name}/migration.sql", "status": status, "sql": sql}


def _finding(rule: str, severity: str, migration: str, line: int, statement: str, table: str, message: str,
             suggestion: str, context: dict[str, Any], category: str = "blocking-lock",
             waived_reason: str | None = None) -> dict[str, Any]:
    doc = {"rule": rule, "category": category, "severity": severity, "migration": migration,
           "file": f"prisma/migrations/{migration}/migration.sql", "line": line, "statement": statement,
           "table": table, "message": message, "suggestion": suggestion, "context": context}
    if waived_reason is not None:
        doc["waived_reason"] = waived_reason
    return doc


USERS = {"rows": 1_250_000, "bytes": 412_000_000}
POSTS = {"rows": 8_400_000, "bytes": 3_100_000_000}
DROP_FINDING = _finding(
    "drop-column", "high", DROP, 2, 'ALTER TABLE "User" DROP COLUMN "legacy_name"', "User",
    "Drops 1,180,233 non-null values of User.legacy_name",
    "Expand/contract: first deploy code that neither reads nor writes the column (Prisma/Laravel/Alembic models "
    "without it), then drop it in a later release, after a verified backup.",
    {**USERS, "non_null": 1_180_233, "sampled": True}, category="data-loss")
INDEX_FINDING = _finding(
    "require-concurrent-index", "high", INDEX, 1, INDEX_SQL.strip().rstrip(";"), "Post",
    "Builds an index on Post without CONCURRENTLY: writes to the table wait until the build finishes "
    "(Post has about 8,400,000 rows (2.9 GiB): writes are blocked for minutes)",
    "Use CREATE INDEX CONCURRENTLY, in a migration of its own that does not run inside a transaction; if it "
    "fails, drop the INVALID index and retry.", {**POSTS, "duration": "minutes"})
BACKFILL_FINDING = _finding(
    "update-without-where", "medium", BACKFILL, 2, 'UPDATE "Post" SET "slug" = lower("title") WHERE "id" % 40 = 0',
    "Post", "Updates rows of Post in the migration's transaction: each statement locks the rows it changes "
    "until the migration commits", "Backfill in batches outside the migration, or keep each batch small.",
    POSTS, category="blocking-lock")


STATIC_MESSAGES = {
    "drop-column": "Drops column User.legacy_name and every value in it",
    "require-concurrent-index": "Builds an index on Post without CONCURRENTLY: writes to the table wait until the "
                                "build finishes",
}


def plan_document(basis: str, *, blocked: bool) -> dict[str, Any]:
    """A plan of three Prisma migrations: blocked (two high findings), or one medium and a waived high."""
    if blocked:
        findings, waived = [DROP_FINDING, INDEX_FINDING], []
        migrations = [_migration(DROP, DROP_SQL), _migration(INDEX, INDEX_SQL)]
    else:
        findings = [BACKFILL_FINDING]
        waived = [{**DROP_FINDING, "waived_reason": "legacy_name unused since v3.2 (PR #41); backup kept 90 days"}]
        migrations = [_migration(DROP, DROP_SQL), _migration(BACKFILL, BACKFILL_SQL)]
    top = "high" if blocked else "medium"
    counts = {"high": 2} if blocked else {"medium": 1}
    live = basis == "live"
    findings, waived = copy.deepcopy(findings), copy.deepcopy(waived)
    for f in findings + waived:
        if not live:  # no sizes without a database: the messages say less
            f["context"] = {}
            f["message"] = STATIC_MESSAGES.get(f["rule"], f["message"])
    return {"version": 1, "tool": "prisma", "basis": basis, "base": "origin/main@1a2b3c4" if basis == "diff" else None,
            "database": DB if live else None, "migrations": migrations, "findings": findings, "waived": waived,
            "notes": [], "summary": {"max_severity": top, "blocked": blocked, "counts": counts, "fail_on": "high"}}


def manifest() -> dict[str, Any]:
    return {"version": 1, "id": BACKUP_ID, "created_at": "2026-01-01T00:00:00.000Z", "database": "shop",
            "server_version": "16.4", "pg_dump_version": "18.1", "format": "custom", "compression": "zstd:1",
            "store": "s3://acme-db-backups/pgwarden/production", "verified": True, "size_bytes": 1_345_000_000,
            "duration_s": 94.2, "files": [{"name": "dump.pgdump", "size": 1_345_000_000, "sha256": "9f" * 32}]}


PRISMA_OUTPUT = (
    "Prisma schema loaded from prisma/schema.prisma\nDatasource \"db\": PostgreSQL database \"shop\"\n\n"
    f"3 migrations found in prisma/migrations\n\nApplying migration `{DROP}`\nApplying migration `{BACKFILL}`\n"
    "Error: P3018\n\nA migration failed to apply. New migrations cannot be applied before the error is recovered "
    f"from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve"
    f"\n\nMigration name: {BACKFILL}\n\nDatabase error code: 23505\n\nDatabase error:\nERROR: could not create "
    'unique index "Post_slug_key"\nDETAIL: Key (slug)=(hello-world) is duplicated.\n')


def deploy_document(ok: bool) -> dict[str, Any]:
    checks = [{"name": "verified backup", "ok": True, "detail": f"{BACKUP_ID} (2m 10s old, verified)",
               "warning": False},
              {"name": "deploy lock", "ok": True, "detail": "advisory lock held", "warning": False}]
    doc: dict[str, Any] = {
        "version": 1, "step": "deploy", "ok": ok, "duration_s": 41.7, "checks": checks, "run_id": "4242",
        "database": "shop", "environment": "production", "tool": "prisma", "pending": [DROP, BACKFILL],
        "applied": [DROP, BACKFILL] if ok else [DROP], "backup_id": BACKUP_ID, "no_backup_reason": None,
        "failed_migration": None if ok else BACKFILL, "unfinished": [], "lock_lost": False,
        "output": "" if ok else PRISMA_OUTPUT, "max_wait_s": 0.4, "hooks": [],
        "attempts": [{"attempt": 1, "outcome": "succeeded" if ok else "failed"}],
        "restore_command": f"pgwarden restore --backup-id {BACKUP_ID} --confirm shop",
    }
    if ok:
        doc["summary"] = "applied 2 migration(s) to shop: " + ", ".join(doc["applied"])
        doc["error"] = None
    else:
        error = "prisma migrate exited with code 1:\n" + "\n".join(
            line for line in PRISMA_OUTPUT.splitlines()[-9:] if line.strip())
        doc.update(summary=f"migration {BACKFILL} failed: {error}. To restore the backup taken for this deploy: "
                   + doc["restore_command"], error=error, failed_in_history=[BACKFILL],
                   resolve_hint=f"npx prisma migrate resolve --rolled-back {BACKFILL}")
    return doc


def verify_document(ok: bool) -> dict[str, Any]:
    checks = [{"name": "every migration applied", "ok": ok, "detail": "" if ok else f"not applied: {BACKFILL}",
               "warning": False},
              {"name": "no INVALID index", "ok": True, "detail": "", "warning": False},
              {"name": "row counts match the backup", "ok": True,
               "detail": f"4 table(s) within 5% of backup {BACKUP_ID}", "warning": False}]
    summary = "all 3 checks passed" if ok else "1 of 3 checks failed: every migration applied"
    return {"version": 1, "step": "verify", "ok": ok, "summary": summary, "duration_s": 1.2, "checks": checks}


APPROVAL = {"environment": "production", "required_reviewers": ["alice", "release-managers"],
            "approved_by": ["alice"], "checked": True}


def write_run(root: Path, state: str) -> Path:
    """A results folder as the report job downloads it, for ``state`` (blocked, awaiting, deployed, failed)."""
    plan_dir = root / "pgwarden-plan-production"
    plan_dir.mkdir(parents=True)
    if state == "blocked":
        (plan_dir / "plan.json").write_text(json.dumps(plan_document("diff", blocked=True)))
        return root
    (plan_dir / "plan.json").write_text(json.dumps(plan_document("live", blocked=False)))
    if state == "awaiting":
        return root
    ok = state == "deployed"
    run = root / "pgwarden-migrate-production-default"
    run.mkdir()
    docs = {"approval": APPROVAL, "backup": manifest(), "deploy": deploy_document(ok), "verify": verify_document(ok)}
    for name, doc in docs.items():
        (run / f"{name}.json").write_text(json.dumps(doc))
    outcomes = {"approval": "success", "backup": "success", "deploy": "success" if ok else "failure",
                "verify": "success" if ok else "failure"}
    (run / "outcomes.json").write_text(json.dumps({"target": "default", "outcomes": outcomes}))
    return root


def info(state: str) -> rc.RunInfo:
    final = state in ("deployed", "failed")
    outcomes = {"plan": "failure" if state == "blocked" else "success"}
    if final:
        outcomes["migrate"] = "success" if state == "deployed" else "failure"
    return rc.RunInfo(
        workflow="migrate", environment="production", stage="final" if final else "plan", outcomes=outcomes,
        run_url="https://github.com/acme/shop/actions/runs/4242",
        restore_workflow_url="https://github.com/acme/shop/actions/workflows/restore.yml",
        pull_request="#7 · Drop the legacy name, backfill slugs (feature/slugs)", commit="8d3f0c1a9b7e" + "0" * 28,
    )


def render(tmp_path: Path, state: str) -> str:
    return rc.render_report(info(state), rr.load_results(write_run(tmp_path / state, state)),
                            full_link="https://github.com/acme/shop/actions/runs/4242")
