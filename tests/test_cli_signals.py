"""SIGTERM (``docker stop``, a cancelled CI job) ends pgwarden like Ctrl-C, with exit 143, at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fix_pg import TestDatabase
from tests.fix_project import write_sql_project


@pytest.mark.slow
def test_sigterm_during_a_deploy_exits_143_without_migrating(tmp_path: Path, db: TestDatabase) -> None:
    # The pre hook says it started, then would run for five minutes: pgwarden waits on its child.
    sleep = f"sleep 300.{random.randrange(10**6):06d}"  # a command line no other process has
    write_sql_project(tmp_path, {"0001_orders": "CREATE TABLE orders (id bigint PRIMARY KEY);\n"},
                      extra=f"deploy:\n  hooks:\n    pre: touch hook-started && exec {sleep}\n")
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
        sent = time.monotonic()
        deploy.send_signal(signal.SIGTERM)
        out, err = deploy.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    assert deploy.returncode == 143, err
    assert took < 8, f"pgwarden took {took:.1f} s to end after SIGTERM"
    assert "pgwarden deploy: terminated (SIGTERM)" in err
    assert "Traceback" not in err
    assert '"exit_code": 143' in out  # the JSON error document, as for any failure
    assert db.scalar("select to_regclass('orders') is null") is True
    # The hook (exec'd into sleep, so pgwarden's direct child) died with pgwarden.
    assert subprocess.run(["pgrep", "-f", sleep], capture_output=True).returncode == 1


@pytest.mark.slow
def test_sigterm_during_a_hook_also_ends_what_the_hooks_shell_started(tmp_path: Path, db: TestDatabase) -> None:
    # The hook's shell starts the sleep in the background and waits: the sleep is pgwarden's grandchild,
    # which PR_SET_PDEATHSIG on the shell alone would leave running.
    sleep = f"sleep 300.{random.randrange(10**6):06d}"
    write_sql_project(tmp_path, {"0001_orders": "CREATE TABLE orders (id bigint PRIMARY KEY);\n"},
                      extra=f"deploy:\n  hooks:\n    pre: '{sleep} & touch hook-started; wait'\n")
    env = {**os.environ, "DATABASE_URL": db.url}
    made = subprocess.run([sys.executable, "-m", "pgwarden", "backup"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    deploy = subprocess.Popen([sys.executable, "-m", "pgwarden", "deploy"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "hook-started").exists():
            assert deploy.poll() is None, deploy.communicate()
            assert time.monotonic() < deadline, "the pre hook never started"
            time.sleep(0.05)
        assert subprocess.run(["pgrep", "-f", sleep], capture_output=True).returncode == 0
        deploy.send_signal(signal.SIGTERM)
        _, err = deploy.communicate(timeout=30)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
        leftover = subprocess.run(["pgrep", "-f", sleep], capture_output=True, text=True).stdout.split()
        for pid in leftover:
            os.kill(int(pid), signal.SIGKILL)
    assert deploy.returncode == 143, err
    assert not leftover, f"the hook's background {sleep} outlived pgwarden: pids {leftover}"
    assert db.scalar("select to_regclass('orders') is null") is True
