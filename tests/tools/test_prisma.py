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
        assert [m.name for m in tool.failed(conn)] == [SLUG]


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
