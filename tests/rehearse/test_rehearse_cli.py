"""``pgwarden rehearse``'s command line: help, usage errors, and what it loads before it is run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def test_help_loads_no_driver() -> None:
    code = ("import sys\nfrom pgwarden.cli.main import main\ntry:\n    main(['rehearse', '--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg' "
            "or m.startswith('pgwarden.pipeline')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--backup-id ID|latest" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_usage_error_is_exit_2_with_the_json_document(cli: Callable[..., Any]) -> None:
    done = cli("rehearse", "--format", "json", "--no-such-option")
    assert done.code == 2
    assert json.loads(done.stdout)["exit_code"] == 2


def test_no_database_url_is_exit_2(cli: Callable[..., Any], tmp_path: Any) -> None:
    done = cli("rehearse", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": ""})
    assert done.code == 2, done.output
    assert "no database URL" in json.loads(done.stdout)["error"]["message"]
