"""Migration files pgwarden cannot send as they are: refused up front, exit 2, naming file and byte offset.

Before, a NUL byte silently truncated the migration (libpq ends a query at NUL: "applied 1
migration(s)", half the file never ran), invalid UTF-8 crashed plan/deploy/status/verify with
UnicodeDecodeError, and a non-UTF-8 file name crashed deploy with UnicodeEncodeError.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fix_project import write_sql_project

INIT = "create table t (id int);\n"


def project(tmp_path: Path, name: bytes, content: bytes) -> Path:
    write_sql_project(tmp_path, {"0001_init": INIT})
    with open(os.path.join(os.fsencode(tmp_path / "migrations"), name), "wb") as handle:
        handle.write(content)
    return tmp_path


CASES = {
    "nul": (b"0002_nul.sql", b"insert into t values (1);\x00insert into t values (2);\n",
            ["0002_nul.sql", "a NUL byte at byte offset 25 (line 1)"]),
    "utf8": (b"0002_latin1.sql", b"-- caf\xe9\ninsert into t values (1);\n",
             ["0002_latin1.sql", "not valid UTF-8 at byte offset 6 (line 1)"]),
    "name": (b"0002_caf\xe9.sql", b"insert into t values (1);\n",
             ["0002_caf\\xe9.sql", "the file name is not valid UTF-8 (byte offset 8 of the name)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["plan", "deploy", "status", "verify"])
def test_odd_migration_file_is_refused_with_exit_2(case: str, command: str, tmp_path: Path, db, cli) -> None:
    name, content, expected = CASES[case]
    base = project(tmp_path, name, content)
    args = [command] + (["--no-backup", "--reason", "test"] if command == "deploy" else [])
    result = cli(*args, cwd=base, env={"DATABASE_URL": db.url})
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.stderr, result.output
    assert db.scalar("select to_regclass('t')") is None, "deploy ran something"


def test_plan_of_a_named_file_with_a_nul_byte_is_refused(tmp_path: Path, cli) -> None:
    path = tmp_path / "x.sql"
    path.write_bytes(b"select 1;\n\x00select 2;\n")
    result = cli("plan", str(path), cwd=tmp_path)
    assert result.code == 2 and "a NUL byte at byte offset 10 (line 2)" in result.stderr, result.output
