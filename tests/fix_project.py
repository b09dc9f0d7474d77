"""A pgwarden project on disk for tests: migrations/<name>.sql and a pgwarden.yml (the sql tool).

- ``write_sql_project(base, migrations, extra=...)``: write one; returns the pgwarden.yml path.
- ``sql_project``: a project in ``tmp_path`` with one migration (``0001_t``: ``CREATE TABLE t``).
- ``cli_backup(cli, project, url)``: ``pgwarden backup --format json`` there, its manifest as a dict;
  ``archive_path(project, manifest)``: where its (first) file lies in the project's file store.

One builder, so a change to the config every test project needs is made once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def write_sql_project(base: Path, migrations: dict[str, str], *, extra: str = "",
                      store: str = "file://./backups") -> Path:
    folder = base / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in migrations.items():
        (folder / f"{name}.sql").write_text(sql)
    config = base / "pgwarden.yml"
    config.write_text(f"migrations:\n  tool: sql\n  path: migrations\nbackup:\n  store: {store}\n{extra}")
    return config


@pytest.fixture
def sql_project(tmp_path: Path) -> Path:
    write_sql_project(tmp_path, {"0001_t": "CREATE TABLE t (id int);\n"})
    return tmp_path


def cli_backup(cli: Any, project: Path, url: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    made = cli("backup", "--format", "json", cwd=project, env={"DATABASE_URL": url, **(env or {})})
    assert made.code == 0, made.output
    manifest: dict[str, Any] = json.loads(made.stdout)
    return manifest


def archive_path(project: Path, manifest: dict[str, Any]) -> Path:
    return project / "backups" / manifest["id"] / manifest["files"][0]["name"]
