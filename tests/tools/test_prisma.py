"""PrismaTool against a real `_prisma_migrations` table: statuses, failed, edited, apply."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pgwarden.pg.connection import DatabaseTarget
from pgwarden.records import MigrationStatus
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.prisma import PrismaTool
from tests.tools.helpers import PYTHON, copy_project, settings_for

INIT = "20240110093000_init"
SLUG = "20240302141500_add_post_slug"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project("prisma", tmp_path)


def tool_for(project: Path, **migrations: str) -> PrismaTool:
    command = f"{PYTHON} fake_prisma.py migrate deploy"
    return PrismaTool(settings_for("prisma", project, command=command, **migrations))


def record(db, project: Path, name: str, *, finished: bool = True, rolled_back: bool = False,
           checksum: str | None = None, logs: str | None = None) -> None:
    from tests.corpus.prisma.fake_prisma import DDL

    sql = (project / "prisma/migrations" / name / "migration.sql").read_bytes()
    db.execute(DDL)
    db.execute(
        'insert into "_prisma_migrations" (id, checksum, migration_name, finished_at, rolled_back_at, logs, '
        "applied_steps_count) values (gen_random_uuid()::text, %s, %s, "
        "case when %s then now() end, case when %s then now() end, %s, %s)",
        (checksum or hashlib.sha256(sql).hexdigest(), name, finished, rolled_back, logs, int(finished)),
    )


def test_static_everything_is_pending_in_folder_order(project: Path) -> None:
    pending = tool_for(project).pending(None)
    assert [m.name for m in pending][:2] == [INIT, SLUG]
    assert len(pending) == 5
    assert pending[0].path == f"prisma/migrations/{INIT}/migration.sql"
    assert 'CREATE TABLE "User"' in (pending[0].sql or "")
    assert pending[0].checksum == hashlib.sha256((project / pending[0].path).read_bytes()).hexdigest()


def test_statuses_from_history(db, project: Path) -> None:
    record(db, project, INIT)
    record(db, project, SLUG, finished=False, rolled_back=True)  # rolled back: pending again
    tool = tool_for(project)
    with db.connect() as conn:
        statuses = {m.name: m.status for m in tool.migrations(conn)}
        assert statuses[INIT] is MigrationStatus.APPLIED
        assert statuses[SLUG] is MigrationStatus.PENDING
        assert next(m.name for m in tool.pending(conn)) == SLUG
        assert tool.head(conn) == INIT
        assert tool.failed(conn) == []
        assert tool.history_state(conn)[0]["migration_name"] in (INIT, SLUG)


def test_failed_migration_is_reported_with_resolve_command(db, project: Path) -> None:
    record(db, project, INIT)
    record(db, project, SLUG, finished=False, logs="Database error code: 23502")
    tool = tool_for(project)
    with db.connect() as conn:
        failed = tool.failed(conn)
        assert [m.name for m in failed] == [SLUG]
        assert failed[0].status is MigrationStatus.FAILED
        assert "23502" in (tool.failure_logs(conn, SLUG) or "")
        # Still pending: once resolved as rolled back, it runs again.
        assert SLUG in [m.name for m in tool.pending(conn)]
    assert tool.resolve_hint(SLUG) == f"npx prisma migrate resolve --rolled-back {SLUG}"


def test_edited_after_apply(db, project: Path) -> None:
    record(db, project, INIT, checksum="0" * 64)
    with db.connect() as conn:
        tool = tool_for(project)
        assert [m.name for m in tool.edited(conn)] == [INIT]
        assert INIT not in [m.name for m in tool.pending(conn)]


def test_no_history_table_means_all_pending(db, project: Path) -> None:
    with db.connect() as conn:
        tool = tool_for(project)
        assert len(tool.pending(conn)) == 5
        assert tool.head(conn) is None
        assert tool.history_state(conn) == []


def test_apply_runs_the_command_with_url_in_env_and_limits(secret_db, project: Path, tmp_path: Path) -> None:
    log = tmp_path / "tool.log"
    # Only the init and the index migration: the slug one needs an empty table, fine here.
    tool = tool_for(project)
    target = DatabaseTarget.from_url(secret_db.url)
    import os

    os.environ["FAKE_TOOL_LOG"] = str(log)
    try:
        result = tool.apply(target, SessionLimits(lock_timeout_s=5, statement_timeout_s=900), run_id="r1")
    finally:
        del os.environ["FAKE_TOOL_LOG"]
    assert result.ok, result.output
    assert result.applied[0] == INIT and len(result.applied) == 5
    settings_line, argv_line = log.read_text().splitlines()
    assert settings_line == "5s 15min pgwarden-migrate"
    assert target.password and target.password not in argv_line
    assert target.password not in result.output
    with secret_db.connect() as conn:
        assert tool.head(conn) == "20240601090000_add_role_moderator"


def test_apply_failure_names_the_migration_and_detects_lock_timeout(db, project: Path) -> None:
    record(db, project, INIT)
    db.execute((project / "prisma/migrations" / INIT / "migration.sql").read_text())
    # Hold a lock on "Post" so the next migration's ALTER TABLE times out.
    holder = db.connect(autocommit=False)
    holder.execute('lock table "Post" in access share mode')
    try:
        tool = tool_for(project)
        result = tool.apply(DatabaseTarget.from_url(db.url), SessionLimits(lock_timeout_s=0.2, statement_timeout_s=30))
    finally:
        holder.rollback()
        holder.close()
    assert not result.ok
    assert result.failed == SLUG
    assert result.lock_timeout_hit
    assert "55P03" in result.output
    assert result.error and "prisma migrate exited with code 1" in result.error
    with db.connect() as conn:
        # The native engine ran the file as one transaction, cancelled by lock_timeout: nothing of it
        # is applied, so pgwarden marks it rolled back as `migrate resolve --rolled-back` would, and a
        # retry can run it (before: it stayed failed and every retry met P3009).
        assert tool.failed(conn) == []
        assert SLUG in [m.name for m in tool.pending(conn)]
        assert db.scalar("select count(*) from information_schema.columns where column_name = 'slug'") == 0
    assert f"marked {SLUG} as rolled back" in result.output


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    from pgwarden.errors import ConfigError

    with pytest.raises(ConfigError, match=r"migrations\.path"):
        PrismaTool(settings_for("prisma", tmp_path)).pending(None)


def test_fake_prisma_is_runnable() -> None:
    proc = subprocess.run([PYTHON, str(Path(__file__).parent.parent / "corpus/prisma/fake_prisma.py"), "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2


def test_recorded_lists_applied_rows_even_without_their_folder(db, project: Path) -> None:
    record(db, project, INIT)
    record(db, project, SLUG, finished=False, rolled_back=True)  # rolled back: not applied
    db.execute(
        'insert into "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count) '
        "values ('x', 'abc', '20230101000000_deleted_later', now(), 1)"
    )
    with db.connect() as conn:
        assert tool_for(project).recorded(conn) == [INIT, "20230101000000_deleted_later"]


# --- the native engine's semantics (the stand-in sends migration.sql as one query, as it does) -----


def _write(project: Path, name: str, sql: str | bytes) -> Path:
    folder = project / "prisma/migrations" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "migration.sql"
    path.write_bytes(sql if isinstance(sql, bytes) else sql.encode())
    return path


def test_native_engine_failure_half_way_applies_nothing_and_is_atomic(db, project: Path) -> None:
    for name in [n.name for n in (project / "prisma/migrations").iterdir() if n.is_dir()]:
        import shutil

        shutil.rmtree(project / "prisma/migrations" / name)
    _write(project, "20250101000000_two_tables", "CREATE TABLE a (id int);\nCREATE TABLE a (id int);\n")
    tool = tool_for(project)
    assert tool.migrations(None)[0].atomic  # native engine: one query, one implicit transaction
    result = tool.apply(DatabaseTarget.from_url(db.url), SessionLimits(lock_timeout_s=5, statement_timeout_s=30))
    assert not result.ok and result.failed == "20250101000000_two_tables"
    assert db.scalar("select to_regclass('a')") is None  # the first CREATE TABLE rolled back with it
    with db.connect() as conn:
        # A real error (not a lock problem): it stays failed for a human, with Prisma's logs.
        assert [m.name for m in tool.failed(conn)] == ["20250101000000_two_tables"]


def test_atomic_per_engine_and_transaction_control(project: Path) -> None:
    _write(project, "20250101000000_own_tx", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n")
    _write(project, "20250102000000_concurrently", 'CREATE INDEX CONCURRENTLY "i" ON "Post"("title");\n')
    native = {m.name: m.atomic for m in tool_for(project).migrations(None)}
    assert native[INIT] is True
    assert native["20250101000000_own_tx"] is False
    assert native["20250102000000_concurrently"] is False
    (project / "prisma.config.ts").write_text('export default defineConfig({ engine: "js", experimental: '
                                              '{ adapter: true } });\n')
    adapter = {m.name: m.atomic for m in tool_for(project).migrations(None)}
    assert adapter[INIT] is False  # split on ";" and run without a transaction
    assert adapter["20240415080000_post_author_index"] is True  # one statement
    assert tool_for(project).resolve_hint(INIT) == (
        f"PRISMA_SCHEMA_ENGINE_BINARY=/bin/true npx prisma migrate resolve --rolled-back {INIT}")


def test_crlf_checkout_of_an_applied_migration_is_not_an_edit(db, project: Path) -> None:
    path = project / "prisma/migrations" / INIT / "migration.sql"
    lf = path.read_bytes()
    record(db, project, INIT)  # applied with LF endings
    path.write_bytes(lf.replace(b"\n", b"\r\n"))  # git autocrlf checkout
    old_unpadded = "".join(f"{b:x}" for b in hashlib.sha256(lf).digest())
    record(db, project, SLUG, checksum=old_unpadded)  # an old Prisma's checksum (no zero-padding)
    with db.connect() as conn:
        statuses = {m.name: m.status for m in tool_for(project).migrations(conn)}
    assert statuses[INIT] is MigrationStatus.APPLIED
    assert len(old_unpadded) != 64
    path.write_bytes(lf + b"-- edited\n")
    with db.connect() as conn:
        assert tool_for(project).edited(conn)[0].name == INIT


def test_folder_without_migration_sql_is_an_error(project: Path) -> None:
    from pgwarden.errors import ConfigError

    (project / "prisma/migrations/20250101000000_lost").mkdir()
    with pytest.raises(ConfigError, match=r"20250101000000_lost: a migration folder without migration\.sql.*P3015"):
        tool_for(project).pending(None)


def test_migrations_path_other_than_prisma_config_is_an_error(project: Path) -> None:
    from pgwarden.errors import ConfigError

    (project / "prisma.config.ts").write_text(
        'import { defineConfig } from "prisma/config";\n'
        'export default defineConfig({ schema: "db/schema.prisma", migrations: { path: "db/migrations" } });\n')
    with pytest.raises(ConfigError, match=r"migrations\.path is prisma/migrations, but prisma\.config\.ts has "
                                          r"Prisma read migrations from db/migrations"):
        tool_for(project).pending(None)
    (project / "prisma.config.ts").write_text('export default defineConfig({ schema: "prisma/schema.prisma" });\n')
    assert len(tool_for(project).pending(None)) == 5
    # The adapter's PostgreSQL schema is not Prisma's schema file.
    (project / "prisma.config.ts").write_text(
        'export default defineConfig({ engine: "js", adapter: async () => new PrismaPg({}, { schema: "app" }) });\n')
    assert len(tool_for(project).pending(None)) == 5


def test_native_engine_rejects_two_concurrently_in_one_file(db, project: Path) -> None:
    # What the concurrently-in-prisma-migration finding warns of: one query, one implicit transaction.
    record(db, project, INIT)
    db.execute((project / "prisma/migrations" / INIT / "migration.sql").read_text())
    for name in (SLUG, "20240415080000_post_author_index", "20240520120000_drop_user_name",
                 "20240601090000_add_role_moderator"):
        record(db, project, name)
    _write(project, "20250101000000_idx", 'CREATE INDEX CONCURRENTLY "a" ON "Post"("title");\n'
                                          'CREATE INDEX CONCURRENTLY "b" ON "Post"("content");\n')
    result = tool_for(project).apply(DatabaseTarget.from_url(db.url),
                                     SessionLimits(lock_timeout_s=5, statement_timeout_s=30))
    assert not result.ok and "cannot run inside a transaction block" in result.output
    assert db.scalar("select count(*) from pg_indexes where indexname in ('a', 'b')") == 0


def test_watchdog_does_not_cancel_for_a_waiter_on_the_tools_own_lock() -> None:
    from pgwarden.pg.watchdog import LockWait, decide_cancels

    other_run = LockWait(9, "", frozenset({1}), 30.0, "SELECT pg_advisory_lock(72707369)", 72707369)
    app = LockWait(8, "web", frozenset({1}), 30.0, "select * from t")
    assert decide_cancels([other_run], {1}, 2.0).cancel == {}
    assert decide_cancels([other_run, app], {1}, 2.0).cancel.keys() == {1}


def test_pgwarden_resolve_records_the_decision_in_prisma_history(db, project: Path) -> None:
    from pgwarden.tools.base import RecordsResolutions

    record(db, project, INIT)
    record(db, project, SLUG, finished=False, logs="Database error code: 55P03")
    tool = tool_for(project)
    assert isinstance(tool, RecordsResolutions)
    with db.connect() as conn:
        tool.record_resolution(conn, SLUG, applied=False)
        assert tool.failed(conn) == [] and SLUG in [m.name for m in tool.pending(conn)]
        record(db, project, SLUG, finished=False)
        tool.record_resolution(conn, SLUG, applied=True)
        statuses = {m.name: m.status for m in tool.migrations(conn)}
        assert statuses[SLUG] is MigrationStatus.APPLIED and tool.failed(conn) == []
        tool.record_resolution(conn, "20240415080000_post_author_index", applied=True)
        assert "20240415080000_post_author_index" in tool.recorded(conn)
