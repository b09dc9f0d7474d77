"""Real PostgreSQL for tests.

- ``pg_server``: one embedded PostgreSQL 18 per test session (per xdist worker), or the server
  named by ``PGWARDEN_TEST_DSN`` (a superuser URL) when set.
- ``db``: a fresh, empty database per test; yields a :class:`TestDatabase` with its URL.
- ``secret_db``: like ``db`` but owned by a role that logs in with a password, for the tests
  that prove the password never leaks. (On the embedded server only roles other than
  ``postgres`` need a password.)
- ``pg15``: the PostgreSQL 15 server on 127.0.0.1:5432, or a skip saying why.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from pgwarden.pg.embedded import EmbeddedServer, start_embedded


@dataclass
class PgServer:
    admin_url: str
    embedded: EmbeddedServer | None

    def url_for(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        params: dict[str, Any] = conninfo.conninfo_to_dict(self.admin_url)
        params["dbname"] = dbname
        if user is not None:
            params["user"] = user
            params.pop("password", None)
        if password is not None:
            params["password"] = password
        return conninfo.make_conninfo(**params) if "=" in self.admin_url and "://" not in self.admin_url \
            else _as_url(params)

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True)


def _as_url(params: dict[str, Any]) -> str:
    from urllib.parse import quote, urlencode

    p = dict(params)
    user = p.pop("user", "")
    password = p.pop("password", None)
    dbname = p.pop("dbname")
    host = p.pop("host", "")
    port = p.pop("port", None)
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + ("@" if user else "")
    if host.startswith("/"):
        p["host"] = host
        if port:
            p["port"] = port
        netloc = ""
    else:
        netloc = host + (f":{port}" if port else "")
    query = "?" + urlencode(p) if p else ""
    return f"postgresql://{auth}{netloc}/{quote(dbname, safe='')}{query}"


@dataclass
class TestDatabase:
    __test__ = False
    name: str
    url: str
    server: PgServer

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.url, **kwargs)

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.execute(sql, params)
        return rows[0][0] if rows else None


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    external = os.environ.get("PGWARDEN_TEST_DSN")
    if external:
        yield PgServer(admin_url=external, embedded=None)
        return
    # Not under tmp_path_factory: every pytest session start chmods /tmp/pytest-of-<user> back to
    # 0700, which locks the server (running as its own system user) out of its data directory.
    server = start_embedded()
    try:
        yield PgServer(admin_url=server.url(), embedded=server)
    finally:
        server.stop()


def _create_database(server: PgServer, owner: str | None = None) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    with server.admin() as conn:
        conn.execute(f'create database "{name}"' + (f' owner "{owner}"' if owner else ""))
    return name


def _drop_database(server: PgServer, name: str) -> None:
    with server.admin() as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@contextlib.contextmanager
def _fresh_database(server: PgServer) -> Iterator[TestDatabase]:
    name = _create_database(server)
    try:
        yield TestDatabase(name=name, url=server.url_for(name), server=server)
    finally:
        _drop_database(server, name)


@pytest.fixture
def db(pg_server: PgServer) -> Iterator[TestDatabase]:
    with _fresh_database(pg_server) as database:
        yield database


@pytest.fixture
def other_db(pg_server: PgServer) -> Iterator[TestDatabase]:
    """A second, empty database on the same server as ``db`` (two databases, one store)."""
    with _fresh_database(pg_server) as database:
        yield database


@pytest.fixture
def secret_db(pg_server: PgServer) -> Iterator[TestDatabase]:
    """A database owned by a password-login role; the password is long and distinctive."""
    role = "app_" + uuid.uuid4().hex[:8]
    password = "Pw-" + secrets.token_hex(12)
    with pg_server.admin() as conn:
        conn.execute(f"create role \"{role}\" login createdb password '{password}'")
    name = _create_database(pg_server, owner=role)
    try:
        yield TestDatabase(name=name, url=pg_server.url_for(name, user=role, password=password), server=pg_server)
    finally:
        _drop_database(pg_server, name)
        with pg_server.admin() as conn:
            conn.execute(f'drop role if exists "{role}"')


PG15_URL = os.environ.get("PGWARDEN_PG15_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg15_server() -> PgServer:
    try:
        with psycopg.connect(PG15_URL, connect_timeout=3, autocommit=True) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {PG15_URL} for cross-version tests ({str(exc).strip()[:120]})")
    if version // 10000 >= 18:
        pytest.skip(f"the server at {PG15_URL} is version {version}, not an older major than pg_dump 18")
    return PgServer(admin_url=PG15_URL, embedded=None)


@pytest.fixture
def pg15(pg15_server: PgServer) -> Iterator[TestDatabase]:
    """A fresh database on the older (15) server."""
    name = _create_database(pg15_server)
    try:
        yield TestDatabase(name=name, url=pg15_server.url_for(name), server=pg15_server)
    finally:
        _drop_database(pg15_server, name)
