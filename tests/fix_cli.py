"""Run the CLI in-process (fast) or as a real subprocess (for argv/env/exit-code truth)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from pgwarden.cli.main import main


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _run_in_process(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    old_env = dict(os.environ)
    try:
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.update(env)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse --help / usage errors
                code = int(exc.code or 0)
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """``cli("plan", "--format", "json", "x.sql", cwd=tmp_path, env={...})``"""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
        return _run_in_process(list(args), cwd=cwd, env=env)

    return run


@pytest.fixture
def cli_subprocess() -> Callable[..., CliResult]:
    """The installed entry point in a child process: real exit codes, real streams."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> CliResult:
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "pgwarden", *args], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
