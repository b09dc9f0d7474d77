"""The MigrationTool port as deploy, plan and verify use it: the same questions to every tool."""

from __future__ import annotations

import shlex

import pytest

from pgwarden.names import MIGRATE_APPLICATION_NAME, TOOL_HISTORY_TABLES
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.tools import get_tool
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.external import ExternalTool
from tests.tools.helpers import CORPUS, PYTHON, settings_for

PATHS = {"sql": "migrations", "prisma": "prisma/prisma/migrations", "laravel": "laravel/database/migrations",
         "alembic": "alembic/alembic.ini"}
DEFAULT_COMMANDS = {
    "sql": None,
    "prisma": "npx prisma migrate deploy",
    "laravel": "php artisan migrate --force",
    "alembic": f"alembic -c {shlex.quote(str((CORPUS / 'alembic/alembic.ini').resolve()))} upgrade head",
}


@pytest.mark.parametrize("name", sorted(TOOL_HISTORY_TABLES))
def test_every_tool_answers_command_history_table_and_failure_logs(name: str, db) -> None:
    tool = get_tool(settings_for(name, CORPUS, path=PATHS[name]))
    assert tool.name == name
    assert tool.history_table == TOOL_HISTORY_TABLES[name]
    assert tool.command() == DEFAULT_COMMANDS[name]
    with db.connect() as conn:
        # Only Prisma records a failed attempt's logs; nothing has failed here.
        assert tool.failure_logs(conn, "0001_anything") is None


@pytest.mark.parametrize("name", ["prisma", "laravel", "alembic"])
def test_migrations_command_replaces_the_tools_own(name: str) -> None:
    tool = get_tool(settings_for(name, CORPUS, path=PATHS[name], command="make migrate"))
    assert tool.command() == "make migrate"


def test_the_sql_tool_runs_no_command_even_when_one_is_configured() -> None:
    # pgwarden applies the files itself; deploy still checks a configured command for guards.
    tool = get_tool(settings_for("sql", CORPUS, path="migrations", command="make migrate"))
    assert tool.command() is None


def test_an_external_tool_child_gets_the_database_in_its_environment(tmp_path, db) -> None:
    settings = settings_for("laravel", tmp_path, path="database/migrations")
    settings.database_url_env = "APP_DB"
    tool = get_tool(settings)
    assert isinstance(tool, ExternalTool)
    target = DatabaseTarget.from_url(db.url)
    env = tool.environment(target, SessionLimits(lock_timeout_s=2.0, statement_timeout_s=60.0), run_id="r-1")
    for variable in ("DATABASE_URL", "DB_URL", "APP_DB"):
        assert f"application_name={MIGRATE_APPLICATION_NAME}" in env[variable]
    assert env["PGAPPNAME"] == MIGRATE_APPLICATION_NAME
    assert "-c lock_timeout=2000ms -c statement_timeout=60000ms" in env["PGOPTIONS"]
    assert env["PGWARDEN_RUN_ID"] == "r-1"
    child = [PYTHON, "-c", "import os; print(os.environ['PGAPPNAME'], os.environ['APP_DB'] != '')"]
    result = tool.run(child, target=target, what="env probe")
    assert result.ok and result.output.strip() == f"{MIGRATE_APPLICATION_NAME} True"
