"""actions/_lib/run.sh: the step's JSON, its log, and the summary `pgwarden report step` makes of them.

A command that dies without printing its JSON document must still be summarised with the reason
it gave on stderr. On a busy runner the ``tee`` that writes the log can lag behind the command;
the ``tee`` below waits half a second before it starts, which makes that lag certain instead of
occasional (under load ``2> >(tee ...)`` lost the log about one run in five).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_SH = ROOT / "actions" / "_lib" / "run.sh"


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _runner(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_pgwarden = Path(sys.executable).parent / "pgwarden"
    # `pgwarden report` is the real one; the command itself dies before printing any JSON.
    _script(bin_dir / "pgwarden", f"""#!/bin/bash
if [ "$1" = report ]; then exec "{real_pgwarden}" "$@"; fi
echo "pgwarden $1: cannot connect to app@db:5432/shop: timeout expired" >&2
exit 1
""")
    _script(bin_dir / "tee", f"#!/bin/bash\nsleep 0.5\nexec {shutil.which('tee')} \"$@\"\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PGWARDEN_"))}
    env.update({"PATH": f"{bin_dir}:{env.get('PATH', '')}", "GITHUB_OUTPUT": str(tmp_path / "output"),
                "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    return work, env


def test_a_step_that_prints_no_json_is_summarised_with_its_stderr_even_when_tee_lags(tmp_path: Path) -> None:
    work, env = _runner(tmp_path)

    proc = subprocess.run(["bash", str(RUN_SH), "verify"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=60)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot connect" in proc.stderr, "stderr still reaches the job log"
    log = (work / ".pgwarden" / "run" / "verify.log").read_text()
    assert "cannot connect" in log
    doc = json.loads((work / ".pgwarden" / "run" / "verify.json").read_text())  # made up by report step
    assert doc["ok"] is False and "cannot connect" in doc["error"]["message"]
    assert "cannot connect to app@db:5432/shop: timeout expired" in (tmp_path / "summary.md").read_text()


BASE_REF_SH = ROOT / "actions" / "_lib" / "base_ref.sh"


def _base_ref(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "BASE_REF", "PUSH_BEFORE"))}
    return subprocess.run(["bash", str(BASE_REF_SH)], cwd=repo, env={**clean, **env}, capture_output=True,
                          text=True, timeout=30, check=True)


def test_the_plan_base_is_the_pr_base_branch_or_the_commit_before_the_push(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], cwd=repo, check=True)
    before = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                            check=True).stdout.strip()

    def base(**env: str) -> str:
        return _base_ref(repo, **env).stdout.strip()

    assert base(GITHUB_EVENT_NAME="pull_request", GITHUB_BASE_REF="main") == "origin/main"
    assert base(GITHUB_EVENT_NAME="pull_request_target", GITHUB_BASE_REF="release/2") == "origin/release/2"
    assert base(GITHUB_EVENT_NAME="push", PUSH_BEFORE=before) == before
    assert base(GITHUB_EVENT_NAME="push", PUSH_BEFORE="0" * 40) == "", "a new branch: no base"
    assert base(GITHUB_EVENT_NAME="workflow_dispatch") == ""
    assert base(GITHUB_EVENT_NAME="pull_request", GITHUB_BASE_REF="main", BASE_REF="v1.2") == "v1.2"
    assert base(GITHUB_EVENT_NAME="pull_request", GITHUB_BASE_REF="main", BASE_REF="") == ""

    gone = _base_ref(repo, GITHUB_EVENT_NAME="push", PUSH_BEFORE="1" * 40)  # force-pushed away
    assert gone.stdout == ""
    assert "::warning" in gone.stderr and "fetch-depth" in gone.stderr
