"""SIGTERM (``docker stop``, a cancelled CI job) ends pgwarden like Ctrl-C, with exit 143, at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fix_pg import TestDatabase
from tests.fix_project import write_sql_project


@dataclass
class Stopped:
    code: int
    out: str
    err: str
    took_s: float
    leftover: list[str]


def _sigterm_during_pre_hook(tmp_path: Path, db: TestDatabase, hook: str, sleep: str) -> Stopped:
    """Back up, start ``pgwarden deploy`` whose pre hook touches hook-started, SIGTERM it then.

    ``leftover``: pids of ``sleep`` still running afterwards (killed here, so nothing outlives the test).
    """
    write_sql_project(tmp_path, {"0001_orders": "CREATE TABLE orders (id bigint PRIMARY KEY);\n"},
                      extra=f"deploy:\n  hooks:\n    pre: '{hook}'\n")
    env = {**os.environ, "DATABASE_URL": db.url}
    made = subprocess.run([sys.executable, "-m", "pgwarden", "backup"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    deploy = subprocess.Popen([sys.executable, "-m", "pgwarden", "deploy", "--format", "json"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "hook-started").exists():
            assert deploy.poll() is None, deploy.communicate()
            assert time.monotonic() < deadline, "the pre hook never started"
            time.sleep(0.05)
        assert subprocess.run(["pgrep", "-f", sleep], capture_output=True).returncode == 0
        sent = time.monotonic()
        deploy.send_signal(signal.SIGTERM)
        out, err = deploy.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
        leftover = subprocess.run(["pgrep", "-f", sleep], capture_output=True, text=True).stdout.split()
        for pid in leftover:
            os.kill(int(pid), signal.SIGKILL)
    return Stopped(deploy.returncode, out, err, took, leftover)


@pytest.mark.slow
def test_sigterm_during_a_deploy_exits_143_without_migrating(tmp_path: Path, db: TestDatabase) -> None:
    # The pre hook says it started, then would run for five minutes: pgwarden waits on its child.
    sleep = f"sleep 300.{random.randrange(10**6):06d}"  # a command line no other process has
    stopped = _sigterm_during_pre_hook(tmp_path, db, f"touch hook-started && exec {sleep}", sleep)
    assert stopped.code == 143, stopped.err
    assert stopped.took_s < 8, f"pgwarden took {stopped.took_s:.1f} s to end after SIGTERM"
    assert "pgwarden deploy: terminated (SIGTERM)" in stopped.err
    assert "Traceback" not in stopped.err
    assert '"exit_code": 143' in stopped.out  # the JSON error document, as for any failure
    assert db.scalar("select to_regclass('orders') is null") is True
    # The hook (exec'd into sleep, so pgwarden's direct child) died with pgwarden.
    assert not stopped.leftover


@pytest.mark.slow
def test_sigterm_during_a_hook_also_ends_what_the_hooks_shell_started(tmp_path: Path, db: TestDatabase) -> None:
    # The hook's shell starts the sleep in the background and waits: the sleep is pgwarden's grandchild,
    # which PR_SET_PDEATHSIG on the shell alone would leave running.
    sleep = f"sleep 300.{random.randrange(10**6):06d}"
    stopped = _sigterm_during_pre_hook(tmp_path, db, f"{sleep} & touch hook-started; wait", sleep)
    assert stopped.code == 143, stopped.err
    assert not stopped.leftover, f"the hook's background {sleep} outlived pgwarden: pids {stopped.leftover}"
    assert db.scalar("select to_regclass('orders') is null") is True


# A signal whose handler runs where Python drops exceptions: in __del__ here; in the callbacks run
# after every fork in real life (a rehearsal's SIGTERM was lost in logging's at-fork _releaseLock
# while pg_restore started, and the process went on migrating the scratch copy for a minute).
_SIGNAL_IN_DEL = """
import os, signal, sys, time
from pgwarden.cli.main import Terminated, _sigterm_as_interrupt

class Bomb:
    def __del__(self):
        os.kill(os.getpid(), int(sys.argv[1]))
        for _ in range(100_000):
            pass  # the handler runs here, and what it raises is only printed

try:
    with _sigterm_as_interrupt():
        Bomb()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pass
    print("went on")
except Terminated:
    print("terminated")
except KeyboardInterrupt:
    print("interrupted")
"""


@pytest.mark.parametrize(("signum", "said"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_a_signal_python_drops_is_delivered_again(signum: int, said: str) -> None:
    run = subprocess.run([sys.executable, "-c", _SIGNAL_IN_DEL, str(int(signum))], capture_output=True, text=True,
                         timeout=60)
    assert run.stdout.strip() == said, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
