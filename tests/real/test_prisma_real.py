"""pgwarden against the real Prisma 6.19.3 CLI (driver-adapter engine) and real PostgreSQL.

Each test drives the real ``npx prisma`` of a project built by tests/real/fix_prisma.py, through
pgwarden's CLI, and checks what a user would: exit code, message, the tables, Prisma's own
``_prisma_migrations``. Issue #10's Prisma items: 1 a retry after a lock timeout, 2 the watchdog and
Prisma's own advisory lock, 3 ``migrations.path`` against prisma.config.ts, 4 CRLF checksums, 5 a
folder without migration.sql, 7 the native engine's argv, 8 verify with a failed migration, the
resolve hint as printed, ``--allow-failed-state``. (6, one query under the native engine, is shown
with the stand-in: tests/tools/test_prisma.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pgwarden.tools.prisma import PRISMA_HISTORY_DDL
from tests.fix_cli import CliResult
from tests.fix_pg import TestDatabase
from tests.real import fix_prisma
from tests.real.fix_prisma import PGWARDEN_YML, PrismaProject

prisma_runtime = fix_prisma.prisma_runtime
prisma_project = fix_prisma.prisma_project

Cli = Callable[..., CliResult]

INIT = "20250101000000_init"


def configure(project: PrismaProject, deploy: str = "", path: str = "prisma/migrations") -> None:
    project.config.write_text(PGWARDEN_YML.replace("path: prisma/migrations", f"path: {path}")
                              + (f"deploy:\n{deploy}" if deploy else ""))


def deploy(cli: Cli, project: PrismaProject, db: TestDatabase, *args: str) -> CliResult:
    return cli("deploy", "--database-url", db.url, "--no-backup", "--reason", "test", "--format", "json", *args,
               cwd=project.root)


def prisma_rows(db: TestDatabase) -> list[tuple[str, bool, bool]]:
    """(migration_name, finished, rolled back) of every attempt, oldest first."""
    return [(r[0], r[1], r[2]) for r in db.execute(
        "select migration_name, finished_at is not null, rolled_back_at is not null from _prisma_migrations "
        "order by started_at")]


def existing_post_table(db: TestDatabase) -> None:
    """A "Post" table Prisma applied earlier (its history there, so Prisma does not ask for a baseline)."""
    db.execute(PRISMA_HISTORY_DDL.format(table='"_prisma_migrations"'))
    db.execute('CREATE TABLE "Post" (id int)')


def no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output, result.output


def test_deploy_then_crlf_checkout_is_still_applied(cli: Cli, prisma_project: PrismaProject, db: TestDatabase) -> None:
    project = prisma_project
    configure(project)
    project.add(INIT, 'CREATE TABLE "User" (id serial PRIMARY KEY, email text);\n')
    path = project.add("20250102000000_email_idx", 'CREATE INDEX "User_email_idx" ON "User"(email);\n')
    result = deploy(cli, project, db)
    no_traceback(result)
    assert result.code == 0, result.output
    assert [(name, done) for name, done, _ in prisma_rows(db)] == [(INIT, True), ("20250102000000_email_idx", True)]
    # Item 4: a Windows/autocrlf checkout. Prisma says up to date; pgwarden said edited-after-apply.
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    plan = cli("plan", "--database-url", db.url, "--format", "json", cwd=project.root)
    assert plan.code == 0, plan.output
    assert "edited-after-apply" not in plan.stdout
    verify = cli("verify", "--database-url", db.url, cwd=project.root)
    assert verify.code == 0, verify.output


def test_retry_after_lock_timeout_succeeds(cli: Cli, prisma_project: PrismaProject, db: TestDatabase) -> None:
    project = prisma_project
    configure(project, "  lock_timeout: 300ms\n  retries: 4\n  retry_backoff: 500ms\n  max_blocking: 60s\n"
                       "  preflight_wait: 0s\n")
    existing_post_table(db)
    name = "20250101000000_post_title"
    project.add(name, 'ALTER TABLE "Post" ADD COLUMN "title" text;\n')  # one statement: atomic
    holder = db.connect(autocommit=False)
    holder.execute('lock table "Post" in access share mode')
    gave_way = threading.Event()

    def release_after_first_attempt() -> None:
        # The first attempt meets the lock and gives way; the lock goes while pgwarden waits to retry.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not gave_way.is_set():
            if db.scalar("select count(*) from _prisma_migrations "
                         "where logs is not null or rolled_back_at is not null"):
                break
            time.sleep(0.05)
        holder.rollback()

    thread = threading.Thread(target=release_after_first_attempt)
    thread.start()
    try:
        result = deploy(cli, project, db)
    finally:
        gave_way.set()
        thread.join(60)
        holder.close()
    no_traceback(result)
    assert result.code == 0, result.output
    outcomes = [a["outcome"] for a in json.loads(result.stdout)["attempts"]]
    assert outcomes[0] == "lock-timeout" and outcomes[-1] == "succeeded", outcomes
    assert db.scalar("select count(*) from information_schema.columns where column_name = 'title'") == 1
    # Prisma's own table: the gave-way attempt rolled back, the retry finished.
    assert prisma_rows(db)[0] == (name, False, True) and prisma_rows(db)[-1] == (name, True, False)


def test_non_atomic_failure_is_not_retried_and_the_hint_works(
    cli: Cli, prisma_project: PrismaProject, db: TestDatabase
) -> None:
    project = prisma_project
    configure(project, "  lock_timeout: 300ms\n  retries: 3\n  retry_backoff: 100ms\n  preflight_wait: 0s\n")
    existing_post_table(db)
    name = "20250101000000_two_steps"
    # The adapter engine runs these one by one without a transaction: the first stays applied.
    project.add(name, 'CREATE TABLE "Tag" (id int);\nALTER TABLE "Post" ADD COLUMN "tag" int;\n')
    holder = db.connect(autocommit=False)
    holder.execute('lock table "Post" in access share mode')
    try:
        result = deploy(cli, project, db)
    finally:
        holder.rollback()
        holder.close()
    no_traceback(result)
    assert result.code == 1, result.output
    assert len(json.loads(result.stdout)["attempts"]) == 1  # no retry onto a half-applied file
    assert db.scalar("select to_regclass('\"Tag\"')::text") == '"Tag"'
    assert prisma_rows(db) == [(name, False, False)]  # still failed in Prisma's eyes: not silently resolved
    # Item 8: the resolve hint, run exactly as printed, works (after undoing what was applied).
    refused = deploy(cli, project, db)
    assert refused.code == 4, refused.output
    db.execute('DROP TABLE "Tag"')
    hint = re.search(r"(PRISMA_SCHEMA_ENGINE_BINARY=\S+ )?npx prisma migrate resolve --rolled-back \S+",
                     cli("plan", "--database-url", db.url, cwd=project.root).output)
    assert hint is not None
    env = {**fix_prisma.prisma_env(), "DATABASE_URL": db.url, "PATH": os.environ["PATH"]}
    proc = subprocess.run(["/bin/sh", "-c", hint.group(0)], cwd=project.root, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert prisma_rows(db) == [(name, False, True)]


def test_watchdog_leaves_alone_a_second_prisma_waiting_on_its_lock(
    cli: Cli, prisma_project: PrismaProject, db: TestDatabase
) -> None:
    project = prisma_project
    configure(project, "  max_blocking: 500ms\n  retries: 0\n")
    project.add(INIT, "CREATE TABLE slow (id int);\nSELECT pg_sleep(6);\n")
    second: list[subprocess.CompletedProcess[str]] = []

    def start_second_when_migrating() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.scalar("select count(*) from pg_stat_activity where query like 'SELECT pg_sleep(6)%'"):
                second.append(project.prisma(db.url, "migrate", "deploy"))  # a plain deploy alongside
                return
            time.sleep(0.1)

    thread = threading.Thread(target=start_second_when_migrating)
    thread.start()
    result = deploy(cli, project, db)
    thread.join(60)
    no_traceback(result)
    assert result.code == 0, result.output  # before: cancelled, "waited ... behind the migration"
    assert [a["outcome"] for a in json.loads(result.stdout)["attempts"]] == ["succeeded"]
    assert '"cancelled": true' not in result.stdout
    assert second and second[0].returncode == 0, second and (second[0].stdout + second[0].stderr)
    assert [(n, done) for n, done, _ in prisma_rows(db)] == [(INIT, True)]


def test_migrations_path_other_than_prisma_config(cli: Cli, prisma_project: PrismaProject, db: TestDatabase) -> None:
    project = prisma_project
    configure(project)
    project.add(INIT, "CREATE TABLE a (id int);\n")
    (project.root / "db" / "migrations" / "20250101000000_other").mkdir(parents=True)
    (project.root / "db" / "migrations" / "20250101000000_other" / "migration.sql").write_text(
        "CREATE TABLE other (id int);\n")
    (project.root / "db" / "schema.prisma").write_text(fix_prisma.SCHEMA)
    config = project.root / "prisma.config.ts"
    # A literal path: pgwarden reads it and refuses before anything runs.
    config.write_text(fix_prisma.CONFIG_TS.replace('schema: "prisma/schema.prisma",',
                                                   'schema: "db/schema.prisma",'))
    plan = cli("plan", "--database-url", db.url, cwd=project.root)
    no_traceback(plan)
    assert plan.code == 2 and "db/migrations" in plan.output and "migrations.path" in plan.output, plan.output
    # A computed one pgwarden cannot read: Prisma applies its folder, pgwarden's stays pending: a failure.
    config.write_text('import path from "node:path";\n' + fix_prisma.CONFIG_TS.replace(
        'schema: "prisma/schema.prisma",', 'schema: path.join("db", "schema.prisma"),'))
    result = deploy(cli, project, db)
    no_traceback(result)
    assert result.code == 1, result.output  # before: exit 0, "applied 0"
    assert "still pending" in result.output and INIT in result.output
    assert db.scalar("select to_regclass('other')::text") == "other"


def test_folder_without_migration_sql(cli: Cli, prisma_project: PrismaProject, db: TestDatabase) -> None:
    project = prisma_project
    configure(project)
    project.add(INIT, "CREATE TABLE a (id int);\n")
    (project.migrations / "20250102000000_lost").mkdir()
    real = project.prisma(db.url, "migrate", "deploy")
    assert real.returncode != 0 and "P3015" in real.stdout + real.stderr  # what Prisma itself does
    for step, codes in (("plan", {2}), ("status", {1, 2})):  # status: a usage error or its failed check
        result = cli(step, "--database-url", db.url, cwd=project.root)
        no_traceback(result)
        assert result.code in codes and "20250102000000_lost" in result.output and "P3015" in result.output, \
            result.output


def test_failed_fifth_fails_verify_and_allow_failed_state_gets_through(
    cli: Cli, prisma_project: PrismaProject, db: TestDatabase
) -> None:
    project = prisma_project
    configure(project)
    for i in range(1, 5):
        project.add(f"2025010{i}000000_t{i}", f"CREATE TABLE t{i} (id int);\n")
    fifth = project.add("20250105000000_t5", "CREATE TABLE t1 (id int);\n")  # fails: t1 exists
    result = deploy(cli, project, db)
    no_traceback(result)
    assert result.code == 1, result.output
    verify = cli("verify", "--database-url", db.url, "--format", "json", cwd=project.root)
    assert verify.code == 1, verify.output
    checks = {c["name"]: c for c in json.loads(verify.stdout)["checks"]}
    assert not checks["every migration applied"]["ok"]  # before: passed with the 5th failed
    assert "20250105000000_t5" in checks["every migration applied"]["detail"]
    # Fixed file; the failed attempt ran one statement (atomic), so --allow-failed-state can go on.
    fifth.write_text("CREATE TABLE t5 (id int);\n")
    again = deploy(cli, project, db, "--allow-failed-state")
    no_traceback(again)
    assert again.code == 0, again.output  # before: P3009, exit 1
    assert db.scalar("select to_regclass('t5')::text") == "t5"


def test_native_engine_would_get_the_password_on_argv(
    cli: Cli, prisma_project: PrismaProject, secret_db: TestDatabase, tmp_path: Path
) -> None:
    project = prisma_project
    configure(project)
    project.add(INIT, "CREATE TABLE a (id int);\n")
    (project.root / "prisma.config.ts").write_text(
        'import { defineConfig } from "prisma/config";\n'
        'export default defineConfig({ schema: "prisma/schema.prisma" });\n')
    argv_file = tmp_path / "engine-argv"
    engine = tmp_path / "schema-engine"
    engine.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {argv_file}\nexit 1\n')
    engine.chmod(0o755)
    stand_in = {"PRISMA_SCHEMA_ENGINE_BINARY": str(engine), "PRISMA_QUERY_ENGINE_LIBRARY": "/bin/true"}
    password = secret_db.url.split(":", 2)[2].split("@")[0]
    # What Prisma does with the native engine: the URL, password included, on the engine's argv.
    project.prisma(secret_db.url, "migrate", "deploy", env=stand_in)
    assert password in argv_file.read_text()
    argv_file.unlink()
    result = cli("deploy", "--database-url", secret_db.url, "--no-backup", "--reason", "t", cwd=project.root,
                 env=stand_in)
    no_traceback(result)
    assert result.code == 4, result.output  # a refusal before anything ran
    assert "password" in result.output and "command line" in result.output and "engine" in result.output
    assert not argv_file.exists()  # the engine never ran
    assert password not in result.output


def test_plan_backup_deploy_verify_restore(cli: Cli, prisma_project: PrismaProject, db: TestDatabase) -> None:
    project = prisma_project
    configure(project)
    project.add(INIT, 'CREATE TABLE "User" (id serial PRIMARY KEY, name text);\n')
    assert deploy(cli, project, db).code == 0
    db.execute("""INSERT INTO "User" (name) SELECT 'u' || g FROM generate_series(1, 500) g""")
    drop = "20250102000000_drop_name"
    project.add(drop, 'ALTER TABLE "User" DROP COLUMN "name";\n')
    plan = cli("plan", "--database-url", db.url, "--format", "json", cwd=project.root)
    no_traceback(plan)
    report = json.loads(plan.stdout)
    assert [m["name"] for m in report["migrations"]] == [drop]
    assert "drop-column" in {f["rule"] for f in report["findings"]}
    backup = cli("backup", "--database-url", db.url, "--format", "json", cwd=project.root)
    assert backup.code == 0, backup.output
    backup_id = json.loads(backup.stdout)["id"]
    applied = cli("deploy", "--database-url", db.url, "--backup-id", backup_id, "--format", "json", cwd=project.root)
    no_traceback(applied)
    assert applied.code == 0, applied.output
    assert json.loads(applied.stdout)["applied"] == [drop]
    status = cli("status", "--database-url", db.url, "--format", "json", cwd=project.root)
    assert json.loads(status.stdout)["migrations"]["pending"] == [], status.output
    assert cli("verify", "--database-url", db.url, cwd=project.root).code == 0
    restore = cli("restore", "--database-url", db.url, "--backup-id", backup_id, "--confirm", db.name,
                  cwd=project.root)
    no_traceback(restore)
    assert restore.code == 0, restore.output
    assert db.scalar("""SELECT count(name) FROM "User" """) == 500
    # The real Prisma agrees: the dropped column's migration is pending again.
    after = project.prisma(db.url, "migrate", "status")
    assert drop in after.stdout and "not yet been applied" in after.stdout, after.stdout + after.stderr
