"""`pgwarden plan --base REF`: pending from the git diff when there is no database to read the history from.

Each test builds a real git repository in tmp_path: the base branch holds the migrations taken as
applied, a feature branch (and its working tree) adds or changes some.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgwarden.records import PlanReport
from pgwarden.tools.base import history_sql, sha256_file
from pgwarden.tools.sqldir import HISTORY_DDL

_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
}
USERS = "CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env={**os.environ, **_GIT_ENV}, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def sql_repo(tmp_path: Path) -> Path:
    """A sql-tool project whose main branch created ``users`` long ago; HEAD is branch ``feature``."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "pgwarden.yml").write_text("migrations:\n  tool: sql\n  path: migrations\n")
    (tmp_path / "migrations" / "0001_users.sql").write_text(USERS)
    (tmp_path / "migrations" / "0002_orders.sql").write_text("CREATE TABLE orders (id bigint PRIMARY KEY);\n")
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "base")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    return tmp_path


def plan_json(cli: Any, repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = cli("plan", "--format", "json", *args, cwd=repo, env={"DATABASE_URL": "", **(env or {})})
    assert "Traceback" not in result.output
    return result.code, json.loads(result.stdout), result.stderr


def rules(doc: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in doc["findings"]}


def test_drop_column_of_a_long_existing_table_is_flagged_with_base_only(cli, sql_repo: Path) -> None:
    (sql_repo / "migrations" / "0003_drop_legacy.sql").write_text("ALTER TABLE users DROP COLUMN legacy;\n")
    commit_all(sql_repo, "drop legacy")
    # Not yet committed: the working tree counts too.
    (sql_repo / "migrations" / "0004_index.sql").write_text("CREATE INDEX orders_id ON orders (id);\n")

    code, static, _ = plan_json(cli, sql_repo)
    assert code == 0 and static["basis"] == "static" and static["base"] is None
    assert "drop-column" not in rules(static)  # users is created in the same set: a new, empty table

    code, diff, stderr = plan_json(cli, sql_repo, "--base", "main")
    short = git(sql_repo, "rev-parse", "--short=7", "main")
    assert code == 3, stderr
    assert diff["basis"] == "diff" and diff["base"] == f"main@{short}"
    assert [(m["name"], m["status"]) for m in diff["migrations"]] == [
        ("0003_drop_legacy", "pending"), ("0004_index", "pending")]
    drop = next(f for f in diff["findings"] if f["rule"] == "drop-column")
    assert drop["severity"] == "high" and drop["table"] == "users"
    assert "require-concurrent-index" in rules(diff)
    assert f"main@{short}" in stderr  # the one-line verdict says what the review was based on

    text = cli("plan", "--base", "main", cwd=sql_repo, env={"DATABASE_URL": ""})
    assert text.code == 3 and f"main@{short}" in text.stdout


def test_nothing_changed_means_nothing_pending(cli, sql_repo: Path) -> None:
    code, doc, _ = plan_json(cli, sql_repo, "--base", "main")
    assert code == 0 and doc["migrations"] == [] and doc["findings"] == []


def test_a_changed_base_migration_is_edited_after_apply(cli, sql_repo: Path) -> None:
    (sql_repo / "migrations" / "0001_users.sql").write_text(USERS + "ALTER TABLE users ADD COLUMN plan text;\n")
    commit_all(sql_repo, "edit an applied migration")
    code, doc, _ = plan_json(cli, sql_repo, "--base", "main")
    assert code == 3
    assert [(m["name"], m["status"]) for m in doc["migrations"]] == [("0001_users", "edited")]
    [edited] = doc["findings"]
    assert edited["rule"] == "edited-after-apply" and edited["severity"] == "critical"
    assert edited["file"] == "migrations/0001_users.sql" and "main@" in edited["message"]


def test_base_falls_back_to_origin_and_takes_a_sha(cli, sql_repo: Path) -> None:
    base = git(sql_repo, "rev-parse", "main")
    (sql_repo / "migrations" / "0003_drop_legacy.sql").write_text("ALTER TABLE users DROP COLUMN legacy;\n")
    commit_all(sql_repo, "drop legacy")
    # As in a CI checkout: the base branch exists only as a remote-tracking ref.
    git(sql_repo, "update-ref", "refs/remotes/origin/trunk", base)
    code, doc, _ = plan_json(cli, sql_repo, "--base", "trunk")
    assert code == 3 and doc["base"] == f"origin/trunk@{base[:7]}" and "drop-column" in rules(doc)
    code, doc, _ = plan_json(cli, sql_repo, "--base", base)
    assert code == 3 and doc["base"] == f"{base[:7]}@{base[:7]}"


def test_prisma_layout_create_index_on_an_earlier_table(cli, tmp_path: Path) -> None:
    migrations = tmp_path / "prisma" / "migrations"
    (migrations / "20240101000000_init").mkdir(parents=True)
    (migrations / "20240101000000_init" / "migration.sql").write_text(
        'CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "email" TEXT NOT NULL);\n')
    (migrations / "migration_lock.toml").write_text('provider = "postgresql"\n')
    (tmp_path / "pgwarden.yml").write_text("migrations:\n  tool: prisma\n  path: prisma/migrations\n")
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "init")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    (migrations / "20240201000000_email_index").mkdir()
    (migrations / "20240201000000_email_index" / "migration.sql").write_text(
        'CREATE INDEX "User_email_idx" ON "User"("email");\n')
    commit_all(tmp_path, "index")

    code, static, _ = plan_json(cli, tmp_path)
    assert code == 0 and "require-concurrent-index" not in rules(static)
    code, diff, _ = plan_json(cli, tmp_path, "--base", "main")
    assert diff["tool"] == "prisma" and diff["basis"] == "diff"
    assert [m["name"] for m in diff["migrations"]] == ["20240201000000_email_index"]
    index = next(f for f in diff["findings"] if f["rule"] == "require-concurrent-index")
    assert index["file"] == "prisma/migrations/20240201000000_email_index/migration.sql"
    assert "require-lock-timeout" not in rules(diff)  # pgwarden deploy runs Prisma under deploy.lock_timeout


@pytest.mark.parametrize("ref", ["nope", "origin/nope", "--output=x"])
def test_unknown_ref_exits_2_naming_it(cli, sql_repo: Path, ref: str) -> None:
    result = cli("plan", f"--base={ref}", cwd=sql_repo, env={"DATABASE_URL": ""})
    assert result.code == 2 and ref in result.stderr and "Traceback" not in result.output


def test_not_a_git_repository_exits_2(cli, tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_t.sql").write_text("CREATE TABLE t (id int);\n")
    (tmp_path / "pgwarden.yml").write_text("migrations:\n  tool: sql\n  path: migrations\n")
    result = cli("plan", "--format", "json", "--base", "main", cwd=tmp_path,
                 env={"DATABASE_URL": "", "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert result.code == 2, result.output
    assert "--base main" in result.stderr and "not inside a git repository" in result.stderr
    assert json.loads(result.stdout)["error"]["kind"] == "usage"


def test_no_common_history_exits_2_with_the_fetch_depth_hint(cli, sql_repo: Path) -> None:
    # What a shallow checkout (fetch-depth: 1) looks like to git merge-base: no common ancestor.
    (sql_repo / "migrations" / "0003_x.sql").write_text("SELECT 1;\n")
    commit_all(sql_repo, "x")
    git(sql_repo, "checkout", "-q", "--orphan", "unrelated")
    commit_all(sql_repo, "unrelated history")
    result = cli("plan", "--base", "feature", cwd=sql_repo, env={"DATABASE_URL": ""})
    assert result.code == 2 and "--base feature" in result.stderr and "fetch-depth: 0" in result.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_checkout_owned_by_another_user_exits_2_with_the_safe_directory_fix(cli, sql_repo: Path) -> None:
    # A container job whose uid differs from the checkout's owner: git refuses the repository.
    for path in [sql_repo, *sql_repo.rglob("*")]:
        os.lchown(path, 65534, 65534)
    result = cli("plan", "--base", "main", cwd=sql_repo, env={"DATABASE_URL": "", **_GIT_ENV})
    assert result.code == 2 and f"git config --global --add safe.directory {sql_repo}" in result.stderr


def test_require_lock_timeout_only_for_explicit_paths(cli, sql_repo: Path) -> None:
    (sql_repo / "migrations" / "0003_add.sql").write_text("ALTER TABLE users ADD COLUMN plan text;\n")
    (sql_repo / "migrations" / "0004_off.sql").write_text(
        "SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN note text;\n")
    _, configured, _ = plan_json(cli, sql_repo, "--base", "main")
    lock = [f["migration"] for f in configured["findings"] if f["rule"] == "require-lock-timeout"]
    assert lock == ["0004_off"]  # deploy's lock_timeout covers 0003; 0004 turns it off
    _, explicit, _ = plan_json(cli, sql_repo, "migrations/0003_add.sql")
    assert [f["migration"] for f in explicit["findings"] if f["rule"] == "require-lock-timeout"] == ["0003_add"]


def test_waived_findings_are_kept_apart_and_the_json_round_trips(cli, sql_repo: Path) -> None:
    (sql_repo / "migrations" / "0003_drop_legacy.sql").write_text(
        "-- pgwarden:ignore drop-column nothing has read legacy since v2\nALTER TABLE users DROP COLUMN legacy;\n")
    (sql_repo / "migrations" / "0004_drop_orders.sql").write_text("DROP TABLE orders;\n")
    code, doc, _ = plan_json(cli, sql_repo, "--base", "main", "--fail-on", "critical")
    [waived] = doc["waived"]
    assert waived["rule"] == "drop-column" and waived["waived_reason"] == "nothing has read legacy since v2"
    assert "drop-column" not in rules(doc) and "drop-table" in rules(doc)
    assert code == (3 if doc["summary"]["max_severity"] == "critical" else 0)

    report = PlanReport.from_json(doc)
    assert (report.basis, report.base, report.tool) == ("diff", doc["base"], "sql")
    assert report.waived[0].waived_reason == "nothing has read legacy since v2"
    assert report.to_json() == doc


def test_a_document_from_before_the_basis_still_loads() -> None:
    old = {"version": 1, "migrations": [{"name": "0001_t", "path": "m/0001_t.sql", "status": "pending"}],
           "findings": [], "summary": {"max_severity": None, "blocked": False, "counts": {}, "fail_on": "high"}}
    report = PlanReport.from_json(old)
    assert (report.basis, report.base, report.waived, report.database) == ("static", None, [], None)
    assert PlanReport.from_json({**old, "database": "app@db:5432/shop"}).basis == "live"


def test_with_a_database_live_history_wins(cli, sql_repo: Path, db: Any) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(USERS)
    (sql_repo / "migrations" / "0003_drop_legacy.sql").write_text("ALTER TABLE users DROP COLUMN legacy;\n")
    code, doc, stderr = plan_json(cli, sql_repo, "--base", "no-such-ref", env={"DATABASE_URL": db.url})
    assert doc["basis"] == "live" and doc["base"] is None and doc["database"]
    assert any("--base no-such-ref was not needed" in note for note in doc["notes"])
    # No history table in the database yet: the tool says all three are pending, whatever git says.
    assert [m["name"] for m in doc["migrations"]] == ["0001_users", "0002_orders", "0003_drop_legacy"]
    assert code in (0, 3), stderr


@pytest.fixture
def reader(db: Any) -> Any:
    """A login role that may connect to ``db`` and read nothing in it: (role, its URL)."""
    role = "reader_" + uuid.uuid4().hex[:8]
    password = "Pw-" + uuid.uuid4().hex
    db.execute(f"create role \"{role}\" login password '{password}'")
    db.execute(f'grant usage on schema public to "{role}"')
    try:
        yield role, db.server.url_for(db.name, user=role, password=password)
    finally:
        db.execute(f'drop owned by "{role}"')
        db.execute(f'drop role "{role}"')


def test_a_plan_role_that_cannot_read_the_history_exits_2_with_the_grant(cli, sql_repo: Path, db: Any,
                                                                         reader: Any) -> None:
    role, url = reader
    db.execute(USERS)
    with db.connect() as conn:
        conn.execute(history_sql(HISTORY_DDL, "pgwarden_migrations"))
        for name in ("0001_users", "0002_orders"):
            conn.execute("insert into pgwarden_migrations (name, checksum, finished_at) values (%s, %s, now())",
                         (name, sha256_file(sql_repo / "migrations" / f"{name}.sql")))
    result = cli("plan", cwd=sql_repo, env={"DATABASE_URL": url})
    assert result.code == 2 and "Traceback" not in result.output
    assert f"GRANT SELECT ON pgwarden_migrations TO {role}" in result.stderr

    # With the history readable but not users: the review runs, and says its context is incomplete.
    db.execute(f'grant select on pgwarden_migrations to "{role}"')
    (sql_repo / "migrations" / "0003_drop_legacy.sql").write_text("ALTER TABLE users DROP COLUMN legacy;\n")
    code, doc, _ = plan_json(cli, sql_repo, env={"DATABASE_URL": url})
    assert doc["basis"] == "live" and code == 3
    assert any("Live context is incomplete" in n and "permission denied for table users" in n for n in doc["notes"])


def test_laravel_without_a_database_lists_the_pending_migration_unreviewed(cli, tmp_path: Path) -> None:
    # No artisan here (and maybe no php): the plan command fails as it does in CI without a database.
    migrations = tmp_path / "database" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "2024_01_01_000000_create_users_table.php").write_text("<?php // users\n")
    (tmp_path / "pgwarden.yml").write_text("migrations:\n  tool: laravel\n  path: database/migrations\n")
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "init")
    (migrations / "2024_02_01_000000_drop_legacy.php").write_text("<?php // drop legacy\n")
    code, doc, _ = plan_json(cli, tmp_path, "--base", "main")
    assert code == 0 and doc["basis"] == "diff"
    assert [m["name"] for m in doc["migrations"]] == ["2024_02_01_000000_drop_legacy"]
    assert [(f["rule"], f["migration"]) for f in doc["findings"]] == [
        ("sql-unavailable", "2024_02_01_000000_drop_legacy")]
    assert any("could not render" in note for note in doc["notes"])
