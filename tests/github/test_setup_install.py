"""actions/_lib/setup.sh on a plain runner: the install path the act scenarios never take.

Under act the runner's PATH starts with the test venv, so every action finds this pgwarden already
installed. A user running with ``container-image: ''`` on a plain runner gets the other path: a
venv in the runner's tool cache, keyed by version and source hash, built from the action's own
checkout, put on ``$GITHUB_PATH`` and reused by the job's later actions and later jobs. Here
setup.sh runs directly, with the environment the actions give it, a PATH whose ``python3`` has no
pgwarden, and a clean copy of the repository as the runner would download it.

One real ``pip install`` (PyPI) for the whole module; the cache-key and stale-venv checks use a
fake interpreter that records what it was asked to do, so they cost nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import pgwarden
from tests.github.act_harness import published_checkout

VERSION = pgwarden.__version__
#: A plain runner's PATH: the system interpreter, no pgwarden anywhere.
PLAIN_PATH = "/usr/bin:/bin"
DATABASE_URL = "postgresql://app:s3cr%2Ft-Pw-4417@db.example.test:5432/shop?sslmode=require"
PASSWORD = urlsplit(DATABASE_URL).password or ""


@dataclass
class Runner:
    """The files and folders a runner hands a step, under one temporary folder."""

    base: Path

    def __post_init__(self) -> None:
        for name in ("tool-cache", "temp"):
            (self.base / name).mkdir(parents=True, exist_ok=True)

    @property
    def tool_cache(self) -> Path:
        return self.base / "tool-cache"

    def venvs(self) -> list[Path]:
        root = self.tool_cache / "pgwarden"
        return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


@dataclass
class Step:
    returncode: int
    output: str
    github_path: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


def _checkout(base: Path) -> Path:
    """A private copy of the published repository (the install writes build files into it)."""
    target = base / "pgwarden"
    shutil.copytree(published_checkout(), target, symlinks=True)
    return target


def run_setup(checkout: Path, runner: Runner, step: str, *, path: str = PLAIN_PATH, database_url: str = "",
              python: str | None = None, args: tuple[str, ...] = ()) -> Step:
    """Run setup.sh as an action step does: env from the action, stdout and stderr as one log."""
    files = runner.base / step
    files.mkdir()
    for name in ("path", "env", "output", "summary"):
        (files / name).touch()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "DATABASE_URL", "GITHUB_", "RUNNER_", "VIRTUAL_ENV", "PYTHON", "CONDA"))}
    env.update({
        "PATH": path,
        "PGWARDEN_ROOT": str(checkout),
        "PGWARDEN_DATABASE_URL": database_url,
        "RUNNER_TOOL_CACHE": str(runner.tool_cache),
        "RUNNER_TEMP": str(runner.base / "temp"),
        "GITHUB_PATH": str(files / "path"),
        "GITHUB_ENV": str(files / "env"),
        "GITHUB_OUTPUT": str(files / "output"),
        "GITHUB_STEP_SUMMARY": str(files / "summary"),
        "GITHUB_ACTIONS": "true",
    })
    if python:
        env["PGWARDEN_PYTHON"] = python
    started = time.monotonic()
    proc = subprocess.run(["/bin/bash", str(checkout / "actions" / "_lib" / "setup.sh"), *args], env=env,
                          cwd=runner.base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    return Step(proc.returncode, proc.stdout, (files / "path").read_text(), time.monotonic() - started)


def cache_key(checkout: Path, runner: Runner) -> str:
    step = run_setup(checkout, runner, f"key-{time.monotonic_ns()}", args=("--cache-key",))
    assert step.returncode == 0, step.output
    return step.output.strip()


def _fake_python(base: Path) -> tuple[str, Path]:
    """An interpreter that records its arguments and fails: proves an install was (or was not) started."""
    log = base / "fake-python.log"
    script = base / "fake-python"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def _fake_venv(venv: Path, complete: bool = True) -> None:
    """A cached venv whose pgwarden answers --version, as a finished install leaves it."""
    (venv / "bin").mkdir(parents=True)
    exe = venv / "bin" / "pgwarden"
    exe.write_text(f'#!/bin/sh\necho "pgwarden {VERSION}"\n')
    exe.chmod(0o755)
    if complete:
        (venv / ".pgwarden-complete").touch()


# --- masking: what the runner is told to hide, before anything else runs ---------------------

#: connection strings as users write them, each with its password in a different shape
MASKED_FORMS = [
    "host=db.example.test dbname=shop user=app password='correct horse \\' battery' sslmode=require",
    "host=db.example.test password = 'spaced out' dbname=shop",
    "dbname=shop password=back\\ slashed user=app",
    "postgresql://app@db.example.test/shop?sslmode=require&password=in%20the%2Bquery",
    "postgres://app:p%40ss%2Fw0rd@h1.example.test:5432,h2.example.test:5433/shop",
]


@pytest.mark.parametrize("conninfo", MASKED_FORMS)
def test_setup_masks_the_password_libpq_would_send_in_every_form(tmp_path: Path, conninfo: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    password = str(conninfo_to_dict(conninfo)["password"])  # libpq's own reading is the oracle
    step = run_setup(_checkout(tmp_path), Runner(tmp_path / "runner"), "mask", database_url=conninfo,
                     args=("--cache-key",))
    assert step.returncode == 0, step.output
    masked = [line.removeprefix("::add-mask::") for line in step.lines if line.startswith("::add-mask::")]
    assert masked[0] == conninfo
    assert password in masked, f"{password!r} is not masked: {masked}"
    for line in step.lines:
        assert line.startswith("::add-mask::") or password not in line


def test_setup_masks_a_string_libpq_would_refuse_without_failing(tmp_path: Path) -> None:
    conninfo = "host=db password='never closed"
    step = run_setup(_checkout(tmp_path), Runner(tmp_path / "runner"), "mask", database_url=conninfo,
                     args=("--cache-key",))
    assert step.returncode == 0 and "Traceback" not in step.output, step.output
    assert step.lines[0] == f"::add-mask::{conninfo}"
    assert "::add-mask::never closed" in step.lines


# --- the cache key and stale venvs: no network, no real install --------------------------------


def test_cache_key_follows_what_pip_installs_and_nothing_else(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    runner = Runner(tmp_path / "runner")
    key = cache_key(checkout, runner)
    assert key.startswith(f"{VERSION}-") and len(key) == len(VERSION) + 17

    # What a build or a run leaves in the checkout does not change the key (else no reuse).
    (checkout / "src" / "pgwarden.egg-info").mkdir()
    (checkout / "src" / "pgwarden.egg-info" / "PKG-INFO").write_text("x")
    (checkout / "src" / "pgwarden" / "__pycache__").mkdir(exist_ok=True)
    (checkout / "src" / "pgwarden" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    (checkout / "build").mkdir(exist_ok=True)
    (checkout / "README.md").write_text("docs only\n")
    assert cache_key(checkout, runner) == key

    # Code, package data (the examples ship in the wheel) and the dependency list all do.
    seen = {key}
    for rel in ("src/pgwarden/cli/report.py", "src/pgwarden/examples/shop/seed.sql", "pyproject.toml"):
        with (checkout / rel).open("a") as fh:
            fh.write("\n# changed\n")
        changed = cache_key(checkout, runner)
        assert changed not in seen, f"changing {rel} must change the cache key"
        seen.add(changed)


def test_a_changed_source_never_reuses_the_stale_venv(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    runner = Runner(tmp_path / "runner")
    python, calls = _fake_python(tmp_path)
    old = runner.tool_cache / "pgwarden" / cache_key(checkout, runner)
    _fake_venv(old)

    same = run_setup(checkout, runner, "same", python=python)
    assert same.returncode == 0, same.output
    assert f"found in the tool cache ({old}); not installing" in same.output
    assert same.github_path == f"{old}/bin\n"
    assert not calls.exists(), "nothing may be installed when the cached venv matches"

    with (checkout / "src" / "pgwarden" / "__init__.py").open("a") as fh:
        fh.write("# a different ref, same version\n")
    new = runner.tool_cache / "pgwarden" / cache_key(checkout, runner)
    assert new != old and new.name.startswith(f"{VERSION}-")
    changed = run_setup(checkout, runner, "changed", python=python)
    assert changed.returncode != 0  # the fake interpreter refuses to build the venv
    assert f"Installing pgwarden {VERSION} into {new}" in changed.output
    assert calls.read_text().splitlines() == [f"-m venv {new}"]
    assert changed.github_path == "", "the stale venv must not be put on PATH"
    assert (old / ".pgwarden-complete").is_file(), "another ref's venv is left alone"


def test_a_half_built_venv_is_rebuilt_not_used(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    runner = Runner(tmp_path / "runner")
    python, calls = _fake_python(tmp_path)
    venv = runner.tool_cache / "pgwarden" / cache_key(checkout, runner)
    _fake_venv(venv, complete=False)  # pip was killed after writing the script: no completion marker

    step = run_setup(checkout, runner, "step", python=python)

    assert f"Installing pgwarden {VERSION} into {venv}" in step.output
    assert calls.read_text().splitlines() == [f"-m venv {venv}"]
    assert step.github_path == ""


# --- the real install: one pip install from PyPI for the module --------------------------------


def _plain_python() -> str:
    found = shutil.which("python3", path=PLAIN_PATH)
    if found is None:
        pytest.skip(f"no python3 on {PLAIN_PATH} to stand in for a plain runner's interpreter")
    probe = subprocess.run([found, "-c", "import pgwarden"], capture_output=True, env={"PATH": PLAIN_PATH})
    if probe.returncode == 0:
        pytest.skip(f"{found} already has pgwarden: it cannot stand in for a plain runner")
    if shutil.which("pgwarden", path=PLAIN_PATH):
        pytest.skip(f"a pgwarden is on {PLAIN_PATH}: it cannot stand in for a plain runner")
    venv_ok = subprocess.run([found, "-c", "import ensurepip, venv"], capture_output=True)
    if venv_ok.returncode != 0:
        pytest.skip(f"{found} cannot create venvs with pip (install python3-venv)")
    return found


def _index_reachable(tmp: Path) -> None:
    """Skip, saying why, when pip cannot fetch packages (one small download, no retries)."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--retries", "0",
         "--timeout", "15", "--quiet", "--dest", str(tmp / "pip-probe"), "pip"],
        capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"pip cannot reach the package index, so pgwarden cannot be installed: {probe.stderr[-500:]}")


@pytest.mark.slow
def test_plain_runner_installs_into_the_tool_cache_once_and_reuses_it(tmp_path: Path) -> None:
    python = _plain_python()
    _index_reachable(tmp_path)
    checkout = _checkout(tmp_path)
    runner = Runner(tmp_path / "runner")
    key = cache_key(checkout, runner)

    # 1. The job's first action (say backup): masks, then builds the venv.
    first = run_setup(checkout, runner, "backup", database_url=DATABASE_URL)
    network = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
               "ProxyError", "No matching distribution found")
    if first.returncode != 0 and any(m in first.output for m in network):
        pytest.skip(f"pip could not reach the package index: {first.output[-800:]}")
    assert first.returncode == 0, first.output[-4000:]
    assert first.lines[:3] == [f"::add-mask::{DATABASE_URL}", f"::add-mask::{PASSWORD}",
                               f"::add-mask::{unquote(PASSWORD)}"], first.lines[:5]
    assert all(line.startswith("::add-mask::") for line in first.lines if PASSWORD in line or
               unquote(PASSWORD) in line), "the password may only appear in ::add-mask:: lines"
    venv = runner.tool_cache / "pgwarden" / key
    assert f"Installing pgwarden {VERSION} into {venv}" in first.output
    assert runner.venvs() == [venv]
    assert first.github_path == f"{venv}/bin\n"
    version = subprocess.run([str(venv / "bin" / "pgwarden"), "--version"], capture_output=True, text=True,
                             env={"PATH": PLAIN_PATH}, check=True)
    assert version.stdout.strip() == f"pgwarden {VERSION}"
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import pgwarden; print(pgwarden.__file__)"],
                               capture_output=True, text=True, env={"PATH": PLAIN_PATH}, check=True)
    assert installed.stdout.strip().startswith(str(venv)), "a real install into the venv, not a link to a checkout"
    assert (venv / "bin" / "python").resolve() == Path(python).resolve(), "built with the runner's python3"
    marker = (venv / ".pgwarden-complete").stat().st_mtime_ns
    assert cache_key(checkout, runner) == key, "the build files pip left in the checkout changed the key"

    # 2. The same job's next action (deploy): the runner put the venv's bin first on PATH.
    later = run_setup(checkout, runner, "deploy", path=f"{venv}/bin:{PLAIN_PATH}", database_url=DATABASE_URL)
    assert later.returncode == 0, later.output
    assert later.lines[:3] == first.lines[:3]
    assert f"pgwarden {VERSION} is already installed ({venv}/bin/pgwarden); using it" in later.output
    assert "Installing" not in later.output and later.github_path == ""

    # 3. A later job on the same runner (report): fresh PATH, same tool cache.
    next_job = run_setup(checkout, runner, "report")
    assert next_job.returncode == 0, next_job.output
    assert next_job.lines[0] == f"pgwarden {VERSION} found in the tool cache ({venv}); not installing"
    assert "Installing" not in next_job.output
    assert next_job.github_path == f"{venv}/bin\n"
    assert runner.venvs() == [venv]
    assert (venv / ".pgwarden-complete").stat().st_mtime_ns == marker, "the venv was rebuilt"
    assert later.seconds < 15 and next_job.seconds < 15, (first.seconds, later.seconds, next_job.seconds)
