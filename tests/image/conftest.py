"""The real Docker engine and pgwarden's image built from this checkout, for the image tests.

- ``docker_engine`` (session): a private dockerd started by ``scripts/image-engine`` (no firewall,
  forwarding or bridge changes; containers use ``--network host``), stopped at the end of the session
  when the tests started it (the last xdist worker out stops it; one started by hand stays up).
  Skips, naming ``scripts/provision-docker``, when not root or when docker.io/debootstrap are missing.
- ``image_builder`` (session): ``image_builder(target)`` builds ``--target pgwarden|node|php`` with
  ``scripts/image-build`` (base image from debootstrap, cached; layers cached) once per session and
  returns its tag (``pgwarden:test``, ``pgwarden:test-node``, ``pgwarden:test-php``).
- ``pgwarden_image`` (session): ``image_builder("pgwarden")``.
- ``pg_tcp`` (session): ``pg_tcp(db)`` is ``db``'s URL over TCP on 127.0.0.1, for a container on the
  host's network. The embedded test server listens only on a unix socket in a folder only its own
  system user may enter; a forwarder on 127.0.0.1 (a port of its own) passes each connection on to
  that socket, so a container user of any uid reaches it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fix_pg import PgServer, TestDatabase

ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"  # Debian's docker.io CLI: the legacy builder, no buildx needed
DOCKERD = "/usr/sbin/dockerd"
CACHE = Path(os.environ.get("PGWARDEN_TEST_CACHE") or Path.home() / ".cache" / "pgwarden-tests")
PROVISION = "scripts/provision-docker"


@dataclass
class DockerEngine:
    """A running engine: ``env`` has its DOCKER_HOST; ``run`` calls the docker CLI against it."""

    env: dict[str, str]
    docker: str = DOCKER
    built: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 120, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.docker, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done


def _why_no_engine() -> str | None:
    if os.geteuid() != 0:
        return f"the image tests start a private dockerd, which needs root (then run {PROVISION} as root)"
    missing = [p for p in (DOCKER, DOCKERD) if not os.access(p, os.X_OK)]
    if missing or shutil.which("debootstrap") is None:
        absent = ", ".join(missing + ([] if shutil.which("debootstrap") else ["debootstrap"]))
        return f"{absent} missing: run {PROVISION} (installs docker.io and debootstrap with apt)"
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _engine_script(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts" / "image-engine"), action], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    reason = _why_no_engine()
    if reason:
        pytest.skip(reason)
    state = CACHE / "docker"
    users = state / "users"  # one file per test session using the engine (xdist workers)
    started_marker = state / "started-by-tests"
    with _locked(state / "fixture.lock"):
        already = _engine_script("env")
        if already.returncode != 0:
            started = _engine_script("start")
            if started.returncode != 0:
                pytest.skip(f"dockerd could not start: {started.stderr.strip()[-600:]}")
            started_marker.touch()
            already = started
        users.mkdir(parents=True, exist_ok=True)
        me = users / str(os.getpid())
        me.touch()
    host = already.stdout.strip().partition("=")[2]
    env = {**os.environ, "DOCKER_HOST": host}
    try:
        yield DockerEngine(env=env)
    finally:
        with _locked(state / "fixture.lock"):
            me.unlink(missing_ok=True)
            alive = [u for u in users.iterdir() if _pid_alive(int(u.name))] if users.is_dir() else []
            if not alive and started_marker.exists():
                started_marker.unlink()
                _engine_script("stop")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def image_builder(docker_engine: DockerEngine) -> Callable[[str], str]:
    def build(target: str = "pgwarden") -> str:
        if target not in docker_engine.built:
            # One build at a time across workers; the second finds every layer cached.
            with _locked(CACHE / "image-build.lock"):
                done = subprocess.run([str(ROOT / "scripts" / "image-build"), "--target", target],
                                      cwd=ROOT, env=docker_engine.env, capture_output=True, text=True,
                                      timeout=900, check=False)
            assert done.returncode == 0, f"scripts/image-build --target {target} failed:\n{done.stderr}"
            docker_engine.built[target] = done.stdout.strip().splitlines()[-1]
        return docker_engine.built[target]

    return build


@pytest.fixture(scope="session")
def pgwarden_image(image_builder: Callable[[str], str]) -> str:
    return image_builder("pgwarden")


class SocketForwarder:
    """127.0.0.1:<port> -> a unix socket, one relay thread per connection."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            try:
                upstream.connect(self.target)
            except OSError:
                return
            peers = {client: upstream, upstream: client}
            while peers:
                ready, _, _ = select.select(list(peers), [], [])
                for source in ready:
                    try:
                        data = source.recv(65536)
                        if data:
                            peers[source].sendall(data)
                            continue
                    except OSError:
                        pass
                    with contextlib.suppress(OSError):
                        peers[source].shutdown(socket.SHUT_WR)
                    del peers[source]

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="session")
def pg_tcp(pg_server: PgServer) -> Iterator[Callable[[TestDatabase], str]]:
    embedded = pg_server.embedded
    if embedded is None:  # PGWARDEN_TEST_DSN: already a server a container on the host's network reaches
        yield lambda database: database.url
        return
    forwarder = SocketForwarder(str(embedded.socket_dir / ".s.PGSQL.5432"))
    try:
        yield lambda database: f"postgresql://postgres@127.0.0.1:{forwarder.port}/{database.name}"
    finally:
        forwarder.close()
