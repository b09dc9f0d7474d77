"""``pgwarden plan one.sql`` as a fresh process loads only what planning needs.

A PR check plans a few files in a new process, so start-up is what users feel (issue 15: < 0.25 s
of CPU). Checked as the set of modules loaded, not as a timing: the clients of the other commands
(boto3, PyGithub, zstandard, the PR comment, the approval step) and psycopg must stay out. bench/plan_speed.py
measures the CPU itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: Never needed to plan statically: each belongs to another command, or to a plan with a database
#: (psycopg alone was 0.15 s of CPU, half of the start-up).
NOT_FOR_PLAN = (
    "boto3", "botocore", "github", "zstandard", "psycopg", "psycopg_binary", "pgwarden.pg.connection",
    "pgwarden.report.github", "pgwarden.report.github_api", "pgwarden.report.comment",
    "pgwarden.report.workflow", "pgwarden.report.sarif", "pgwarden.report.markdown",
    "pgwarden.pipeline.approval", "pgwarden.pg.dump", "pgwarden.stores",
)

_PLAN_AND_LIST_MODULES = """
import json, sys
from pgwarden.cli.main import main
code = main(["plan", "--fail-on", "never", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_a_static_plan_of_one_file_loads_no_client_of_another_command(tmp_path: Path) -> None:
    migration = tmp_path / "0001_index.sql"
    migration.write_text("CREATE INDEX orders_user_idx ON orders (user_id);\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", _PLAN_AND_LIST_MODULES, str(migration)], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    loaded = set(result["modules"])
    assert "pgwarden.risk.engine" in loaded  # the review did run
    unexpected = sorted(m for m in loaded if m.split(".")[0] in NOT_FOR_PLAN or m in NOT_FOR_PLAN
                        or any(m.startswith(p + ".") for p in NOT_FOR_PLAN))
    assert not unexpected, unexpected


def test_the_migration_tools_load_psycopg_only_when_they_use_a_database() -> None:
    """A static plan in a Prisma, Laravel or Alembic project loads its tool's module: psycopg stays out."""
    code = ("import sys, pgwarden.pipeline.plan, pgwarden.tools.prisma, pgwarden.tools.laravel, "
            "pgwarden.tools.alembic; print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
