"""Connections to the target database.

A :class:`DatabaseTarget` is parsed once from the URL (or libpq key=value string). It knows
how to connect with psycopg (``application_name=pgwarden``, a connect timeout) and how to hand
the same connection to a child process (pg_dump, psql, a migration tool) without putting the
password on its command line: the conninfo without the password goes in ``--dbname`` and the
password travels in ``PGPASSWORD`` in the child's environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.names import QualifiedName
from pgwarden.redact import redact, register_secret

APPLICATION_NAME = "pgwarden"
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class DatabaseTarget:
    """One database, as given by the user. ``params`` never leaves the process with a password."""

    params: dict[str, str]

    @classmethod
    def from_url(cls, url: str) -> DatabaseTarget:
        register_secret(url)
        try:
            params = {k: str(v) for k, v in pg_conninfo.conninfo_to_dict(url).items() if v is not None}
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"the database URL is not valid: {redact(str(exc))}") from None
        register_secret(params.get("password"))
        if not params.get("dbname"):
            raise ConfigError("the database URL names no database: add /DBNAME to the URL")
        return cls(params)

    @property
    def dbname(self) -> str:
        return self.params["dbname"]

    @property
    def password(self) -> str | None:
        return self.params.get("password")

    @property
    def host(self) -> str:
        return self.params.get("host", os.environ.get("PGHOST", "localhost"))

    def with_dbname(self, dbname: str) -> DatabaseTarget:
        return DatabaseTarget({**self.params, "dbname": dbname})

    def conninfo(self, *, include_password: bool = True) -> str:
        params = dict(self.params)
        if not include_password:
            params.pop("password", None)
        return pg_conninfo.make_conninfo(**params)

    def display(self) -> str:
        """Safe to print: user@host:port/dbname, never the password."""
        user = self.params.get("user", "")
        port = self.params.get("port", "5432")
        host = self.host
        if host.startswith("/"):
            host = f"[socket {host}]"
        return f"{user + '@' if user else ''}{host}:{port}/{self.dbname}"

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a libpq child: PGPASSWORD set, nothing secret in argv."""
        env = dict(os.environ if base is None else base)
        env.pop("PGPASSWORD", None)
        if self.password:
            env["PGPASSWORD"] = self.password
        env.setdefault("PGAPPNAME", APPLICATION_NAME)
        env.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
        return env

    def child_dbname_arg(self) -> str:
        """The value for ``--dbname=`` of pg_dump/pg_restore/psql: conninfo without password."""
        return self.conninfo(include_password=False)

    def url(self, *, include_password: bool = True) -> str:
        """A postgresql:// URL for tools that want one (Prisma, SQLAlchemy): secret, pass via env."""
        from urllib.parse import quote, urlencode

        params = dict(self.params)
        user = quote(params.pop("user", ""), safe="")
        password = params.pop("password", None)
        host = params.pop("host", "")
        port = params.pop("port", "")
        dbname = quote(params.pop("dbname"), safe="")
        auth = ""
        if user:
            auth = user
            if password and include_password:
                auth += ":" + quote(password, safe="")
            auth += "@"
        netloc = ""
        if host and not host.startswith("/"):
            netloc = host + (f":{port}" if port else "")
        elif host:
            params["host"] = host
            if port:
                params["port"] = port
        query = ("?" + urlencode(params)) if params else ""
        return f"postgresql://{auth}{netloc}/{dbname}{query}"


def connect(target: DatabaseTarget, *, autocommit: bool = True, **settings: Any) -> psycopg.Connection[Any]:
    """Open a connection, turning failures into an OperationFailed without the password."""
    kwargs: dict[str, Any] = {
        "application_name": APPLICATION_NAME,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "autocommit": autocommit,
    }
    kwargs.update(settings)
    try:
        return psycopg.connect(target.conninfo(), **kwargs)
    except psycopg.OperationalError as exc:
        raise OperationFailed(
            f"cannot connect to {target.display()}: {redact(str(exc)).strip()}",
            hint="check the database URL, the network path and the credentials",
        ) from None


@contextmanager
def connection(target: DatabaseTarget, **kwargs: Any) -> Iterator[psycopg.Connection[Any]]:
    conn = connect(target, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def server_version(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """(major, minor) of the server, e.g. (15, 19)."""
    num = conn.info.server_version
    return num // 10000, num % 10000


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_exists(conn: psycopg.Connection[Any], name: str, schema: str | None = None) -> bool:
    """True when ``name`` (in ``schema``, else on the search path) is a relation the session can see."""
    row = conn.execute("select to_regclass(%s)", (QualifiedName(schema, name).regclass_text,)).fetchone()
    return bool(row and row[0])
