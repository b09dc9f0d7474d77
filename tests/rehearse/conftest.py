"""A scratch copy one rehearsal test left behind must not fail the next tests too.

Every test asserts that its own rehearsal dropped its copy; when one does not (a bug, or a test
killed by its timeout), this drops what is left after that test, so the next tests on the same
server report on themselves. Only on this worker's own embedded server: an external server may
be running another worker's rehearsal at this moment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import sql


@pytest.fixture(autouse=True)
def _drop_left_scratch_copies(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "pg_server" not in request.fixturenames:
        return
    server = request.getfixturevalue("pg_server")
    if server.embedded is None:
        return
    with server.admin() as conn:
        left = [r[0] for r in conn.execute(
            "select datname from pg_database where datname like 'pgwarden\\_rehearse\\_%'").fetchall()]
        for name in left:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
