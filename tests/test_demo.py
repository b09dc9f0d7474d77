"""`pgwarden demo` end to end, as a newcomer runs it: exit 0, a backup taken, data restored."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fix_cli import CliResult

# The demo gives its app role a random password of this shape; it must never be shown or stored.
DEMO_PASSWORD = re.compile(r"demo-[0-9a-f]{16}")


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_and_restores_the_damage(
    tmp_path: Path, cli_subprocess: Callable[..., CliResult]
) -> None:
    workdir = tmp_path / "demo"
    result = cli_subprocess("demo", "--workdir", str(workdir), timeout=240)
    out = result.output
    assert result.code == 0, out
    # Each step is shown.
    for step in ("[1/6 plan]", "[2/6 backup]", "[3/6 deploy]", "[4/6 verify]", "[5/6 incident]", "[6/6 restore]"):
        assert step in out
    # The risky migration is named by the plan.
    assert "0003_index_orders_by_date" in out
    # A backup with an id, a sha256 and a size.
    assert re.search(r"backup id\s+\S+", out)
    assert re.search(r"sha256\s+[0-9a-f]{64}", out)
    # The damaged orders came back to their count at backup time.
    orders = re.search(r"orders\s+(\d+) ->\s+(\d+)\s+\(back: (\d+) at backup time\)", out)
    assert orders, out
    damaged, restored, at_backup = map(int, orders.groups())
    assert restored == at_backup and damaged < restored
    # Reports were written where the summary says.
    reports = workdir / "shop" / ".pgwarden" / "reports"
    assert (reports / "plan.md").is_file()
    plan = json.loads((reports / "plan.json").read_text())
    assert {"version", "migrations", "findings", "summary"} <= set(plan)
    assert str(reports) in out
    # The password exists only in memory.
    assert not DEMO_PASSWORD.search(out)
    for path in workdir.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert not DEMO_PASSWORD.search(path.read_bytes().decode("utf-8", "replace")), path
