"""AlembicTool with a real Alembic project (tests/corpus/alembic) and a real database."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from pgwarden.errors import ConfigError
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.records import MigrationStatus
from pgwarden.tools.alembic import AlembicTool, parse_history, split_offline_sql
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.external import python_tool
from tests.tools.helpers import CORPUS

REV1, REV2, REV3, REV4 = "1f2e3d4c5b6a", "2a3b4c5d6e7f", "3b4c5d6e7f80", "4c5d6e7f8091"


def tool() -> AlembicTool:
    from tests.tools.helpers import settings_for

    return AlembicTool(settings_for("alembic", CORPUS, path="alembic/alembic.ini"))


def upgrade(db, rev: str) -> None:
    """Apply revisions for real with alembic (online mode), as a project would have."""
    import subprocess

    env = {**os.environ, "DATABASE_URL": db.url}
    subprocess.run([*python_tool("alembic"), "-c", str(CORPUS / "alembic/alembic.ini"), "upgrade", rev],
                   env=env, check=True, capture_output=True)


def test_static_pending_splits_sql_per_revision() -> None:
    pending = tool().pending(None)
    assert [m.name.split("_")[0] for m in pending] == [REV1, REV2, REV3, REV4]
    assert pending[0].path == "alembic/migrations/versions/1f2e3d4c5b6a_create_users_and_orders.py"
    assert "CREATE TABLE users" in (pending[0].sql or "")
    assert "alembic_version" not in "".join(m.sql or "" for m in pending)
    # Each revision runs inside Alembic's transaction.
    assert all((m.sql or "").startswith("BEGIN;") and (m.sql or "").rstrip().endswith("COMMIT;") for m in pending)
    assert "ALTER TABLE users DROP COLUMN legacy_notes;" in (pending[3].sql or "")


def test_pending_from_alembic_version(db) -> None:
    upgrade(db, REV2)
    t = tool()
    with db.connect() as conn:
        statuses = [m.status for m in t.migrations(conn)]
        assert statuses == [MigrationStatus.APPLIED] * 2 + [MigrationStatus.PENDING] * 2
        pending = t.pending(conn)
        assert t.head(conn) == REV2
        assert t.history_state(conn) == [{"version_num": REV2}]
        assert t.failed(conn) == []
    assert [m.name.split("_")[0] for m in pending] == [REV3, REV4]
    assert "CREATE INDEX ix_orders_status ON orders (status);" in (pending[0].sql or "")
    assert "alembic stamp 3b4c5d6e7f80" in t.resolve_hint(pending[0].name)


def test_nothing_pending_runs_no_offline_sql(db) -> None:
    upgrade(db, "head")
    with db.connect() as conn:
        assert tool().pending(conn) == []


def test_apply_for_real_with_limits_and_no_password_in_argv(secret_db, tmp_path: Path) -> None:
    settings_tool = tool()
    ini = CORPUS / "alembic/alembic.ini"
    settings_tool.settings.migrations.command = f"{shlex.join(python_tool('alembic'))} -c {ini} upgrade head"
    target = DatabaseTarget.from_url(secret_db.url)
    result = settings_tool.apply(target, SessionLimits(lock_timeout_s=3, statement_timeout_s=120))
    assert result.ok, result.output
    assert [name.split("_")[0] for name in result.applied] == [REV1, REV2, REV3, REV4]
    assert target.password not in result.output
    assert secret_db.scalar("select version_num from alembic_version") == REV4


def test_apply_lock_timeout_is_detected(db) -> None:
    upgrade(db, REV2)
    t = tool()
    ini = CORPUS / "alembic/alembic.ini"
    t.settings.migrations.command = f"{shlex.join(python_tool('alembic'))} -c {ini} upgrade head"
    holder = db.connect(autocommit=False)
    holder.execute("lock table orders in access share mode")
    try:
        result = t.apply(DatabaseTarget.from_url(db.url), SessionLimits(lock_timeout_s=0.2, statement_timeout_s=30))
    finally:
        holder.rollback()
        holder.close()
    assert not result.ok and result.lock_timeout_hit
    assert result.failed and result.failed.startswith(REV3)
    assert db.scalar("select version_num from alembic_version") == REV2


def test_parse_history_with_merge() -> None:
    text = (
        "Rev: c (head) (mergepoint)\nMerges: a, b\nPath: /x/c_merge.py\n\n"
        "Rev: b\nParent: <base>\n\nRev: a\nParent: <base>\n"
    )
    revisions = parse_history(text)
    assert [r.revision for r in revisions] == ["a", "b", "c"]
    assert revisions[2].parents == ["a", "b"] and revisions[2].name == "c_merge"


def test_split_offline_sql_with_autocommit_block() -> None:
    text = (
        "BEGIN;\n\n-- Running upgrade a -> b\n\nALTER TABLE t ADD COLUMN x int;\n\n"
        "UPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a';\n\n"
        "-- Running upgrade b -> c\n\nCOMMIT;\n\nCREATE INDEX CONCURRENTLY ix ON t (x);\n\nBEGIN;\n\n"
        "UPDATE alembic_version SET version_num='c' WHERE alembic_version.version_num = 'b';\n\nCOMMIT;\n\n"
    )
    sql = split_offline_sql(text)
    assert sql["b"] == "BEGIN;\n\nALTER TABLE t ADD COLUMN x int;\n\nCOMMIT;\n"
    assert sql["c"].startswith("BEGIN;\n\nCOMMIT;\n\nCREATE INDEX CONCURRENTLY ix ON t (x);\n\nBEGIN;")
    assert sql["c"].rstrip().endswith("COMMIT;")


def test_missing_ini_is_a_config_error(tmp_path: Path) -> None:
    from tests.tools.helpers import settings_for

    with pytest.raises(ConfigError, match=r"alembic\.ini"):
        AlembicTool(settings_for("alembic", tmp_path, path="alembic.ini")).pending(None)


def test_recorded_names_the_current_revision_and_keeps_an_unknown_id(db) -> None:
    upgrade(db, REV2)
    t = tool()
    with db.connect() as conn:
        assert [name.split("_")[0] for name in t.recorded(conn)] == [REV2]
        conn.execute("update alembic_version set version_num = 'deadbeef0000'")
        assert t.recorded(conn) == ["deadbeef0000"]
