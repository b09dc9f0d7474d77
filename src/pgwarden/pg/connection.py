"""Connections to the target database.

A :class:`DatabaseTarget` is parsed once from the URL (or libpq key=value string). It knows
how to connect with psycopg (``application_name=pgwarden``, a connect timeout) and how to hand
the same connection to a child process (pg_dump, psql, a migration tool) without putting the
password on its command line: the conninfo without the password goes in ``--dbname`` and the
password travels in ``PGPASSWORD`` in the child's environment.

libpq's environment (``PGPASSWORD``, ``PGHOST``, ``PGSSLMODE``, ``PGSERVICE``...) counts the same
everywhere. pgwarden's own connection lets libpq read it; a child is handed what libpq read for
pgwarden (:meth:`DatabaseTarget.libpq_params`, from libpq's own ``PQconndefaults``): the
parameters explicitly in ``--dbname`` (or the URL of a tool that reads only a URL), the password
in ``PGPASSWORD`` whether it came from the URL, ``PGPASSWORD`` or the service file. A password
file (``PGPASSFILE``, ``~/.pgpass``) is left to the child's libpq, which looks up the same entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import pq

from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.names import QualifiedName
from pgwarden.redact import redact, register_secret

APPLICATION_NAME = "pgwarden"
CONNECT_TIMEOUT_S = 10
#: Parameters pgwarden sets per child through its environment (PGAPPNAME, PGOPTIONS,
#: PGCONNECT_TIMEOUT), or that stay the child libpq's own business (the password file):
#: never copied from pgwarden's environment into a child's explicit parameters.
_PER_CHILD = frozenset({"application_name", "fallback_application_name", "options", "connect_timeout",
                        "passfile", "service"})


def libpq_environment() -> dict[str, str]:
    """What libpq takes from the environment and the ``PGSERVICE`` service file for a parameter
    the conninfo leaves out (not its compiled-in defaults): libpq's own answer, PQconndefaults."""
    values: dict[str, str] = {}
    for option in pq.Conninfo.get_defaults():
        if option.val is None or option.val == option.compiled:
            continue
        values[option.keyword.decode()] = option.val.decode("utf-8", "replace")
    return values


@dataclass(frozen=True)
class DatabaseTarget:
    """One database, as given by the user. ``params`` never leaves the process with a password."""

    params: dict[str, str]

    @classmethod
    def from_url(cls, url: str) -> DatabaseTarget:
        try:
            params = {k: str(v) for k, v in pg_conninfo.conninfo_to_dict(url).items() if v is not None}
        except psycopg.ProgrammingError as exc:
            register_secret(url)
            raise ConfigError(f"the database URL is not valid: {redact(str(exc))}") from None
        if params.get("password"):
            register_secret(url)  # not a password-less URL: "postgresql://" would mask every URL
        target = cls(params)
        resolved = target.libpq_params()
        register_secret(resolved.get("password"))
        if not resolved.get("dbname"):
            raise ConfigError("the database URL names no database: add /DBNAME to the URL (or set PGDATABASE)")
        return target

    def libpq_params(self) -> dict[str, str]:
        """The parameters libpq uses for this target: the URL's, then the environment's and the
        service file's (``PGSERVICE``) for the rest. With ``service=`` in the URL itself, only the
        URL's: that service file is read by each libpq (pgwarden's and the children's) alike."""
        if "service" in self.params:
            return dict(self.params)
        from_env = libpq_environment()
        from_env.pop("service", None)  # its values are in from_env already
        return {**from_env, **self.params}

    @property
    def dbname(self) -> str:
        return self.libpq_params()["dbname"]

    @property
    def password(self) -> str | None:
        """The password libpq sends: the URL's, else ``PGPASSWORD``'s or the service file's."""
        return self.libpq_params().get("password")

    @property
    def host(self) -> str:
        return self.libpq_params().get("host", "localhost")

    def with_dbname(self, dbname: str) -> DatabaseTarget:
        return DatabaseTarget({**self.params, "dbname": dbname})

    def conninfo(self, *, include_password: bool = True) -> str:
        params = dict(self.params)
        if not include_password:
            params.pop("password", None)
        return pg_conninfo.make_conninfo(**params)

    def _handed_over(self) -> dict[str, str]:
        """What a child gets explicitly: libpq's parameters for pgwarden, minus the per-child ones
        (the URL's own are kept as given)."""
        resolved = self.libpq_params()
        return {k: v for k, v in resolved.items() if k in self.params or k not in _PER_CHILD}

    def display(self) -> str:
        """Safe to print: user@host:port/dbname, never the password."""
        params = self.libpq_params()
        user = params.get("user", "")
        port = params.get("port", "5432")
        host = self.host
        if host.startswith("/"):
            host = f"[socket {host}]"
        return f"{user + '@' if user else ''}{host}:{port}/{self.dbname}"

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a libpq child: PGPASSWORD set, nothing secret in argv.

        The password is the one pgwarden's libpq uses (an inherited ``PGPASSWORD`` is kept when
        the URL has none). ``PGSERVICE`` is dropped: its values are already in the child's
        ``--dbname``, and a service file's password would otherwise outrank ``PGPASSWORD``.
        """
        env = dict(os.environ if base is None else base)
        password = self.password
        env.pop("PGPASSWORD", None)
        if "service" not in self.params:
            env.pop("PGSERVICE", None)
        if password:
            env["PGPASSWORD"] = password
        env.setdefault("PGAPPNAME", APPLICATION_NAME)
        env.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
        return env

    def child_dbname_arg(self) -> str:
        """The value for ``--dbname=`` of pg_dump/pg_restore/psql: conninfo without password."""
        params = self._handed_over()
        params.pop("password", None)
        return pg_conninfo.make_conninfo(**params)

    def url(self, *, include_password: bool = True) -> str:
        """A postgresql:// URL for tools that want one (Prisma, SQLAlchemy): secret, pass via env."""
        from urllib.parse import quote, urlencode

        params = self._handed_over()
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
        conn = psycopg.connect(target.conninfo(), **kwargs)
    except psycopg.OperationalError as exc:
        raise OperationFailed(
            f"cannot connect to {target.display()}: {redact(str(exc)).strip()}",
            hint="check the database URL, the network path and the credentials",
        ) from None
    # A password libpq found in a password file is a secret too, though no URL carried it.
    register_secret(conn.info.password)
    return conn


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
