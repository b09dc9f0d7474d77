"""extension-unavailable: silent in a static plan; against a real server it fires only for an
extension the server lacks, or one installed already without IF NOT EXISTS."""

from __future__ import annotations

from typing import Any

import pytest

from pgwarden.records import Category, Severity
from tests.risk.helpers import _compare_snapshot, of_rule

ID = "extension-unavailable"
OK = [
    "CREATE EXTENSION IF NOT EXISTS plpgsql;",
    "CREATE EXTENSION IF NOT EXISTS no_such_extension;",  # static: nothing is known
]


@pytest.mark.parametrize("sql", OK)
def test_static_plan_says_nothing(sql: str) -> None:
    assert of_rule(ID, sql) == []


@pytest.fixture
def conn(db: Any) -> Any:
    with db.connect() as connection:
        yield connection


def _available_not_installed(conn: Any) -> str | None:
    row = conn.execute("select name from pg_available_extensions where installed_version is null "
                       "order by name limit 1").fetchone()
    return None if row is None else str(row[0])


def test_live_ok(conn: Any) -> None:
    assert of_rule(ID, "CREATE EXTENSION IF NOT EXISTS plpgsql;", conn=conn) == []
    name = _available_not_installed(conn)
    if name is not None:
        assert of_rule(ID, f'CREATE EXTENSION "{name}";', conn=conn) == []


ERR = [
    'CREATE EXTENSION IF NOT EXISTS "no_such_extension";',
    "CREATE EXTENSION plpgsql;",
]


def test_live_err(conn: Any) -> None:
    [missing] = of_rule(ID, ERR[0], conn=conn)
    assert (missing.severity, missing.category) == (Severity.HIGH, Category.WILL_FAIL)
    assert "does not have" in missing.message and missing.context["available"] is False
    [installed] = of_rule(ID, ERR[1], conn=conn)
    assert "installed already" in installed.message
    _compare_snapshot(ID, [(sql, of_rule(ID, sql, conn=conn)) for sql in ERR])
