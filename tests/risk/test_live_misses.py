"""#15 live misses 5, 7, 9 end to end: ``pgwarden plan`` of a Prisma-style migration folder against a
real database with data. Statically the three are at most medium; live, each is a high will-fail
finding and the plan is blocked (exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MIGRATIONS = {
    "20240101000000_unique_email.sql": 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n',
    "20240102000000_remove_moderator.sql": (
        'BEGIN;\nCREATE TYPE "Role_new" AS ENUM (\'USER\', \'ADMIN\');\n'
        'ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");\n'
        'ALTER TYPE "Role" RENAME TO "Role_old";\nALTER TYPE "Role_new" RENAME TO "Role";\n'
        'DROP TYPE "Role_old";\nCOMMIT;\n'),
    "20240103000000_vector.sql": 'CREATE EXTENSION IF NOT EXISTS "not_on_this_server";\n',
}
RULES = {"unique-on-duplicate-values", "enum-value-removed-in-use", "extension-unavailable"}


def _plan(folder: Path, url: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "pgwarden", "plan", "--format", "json", *sorted(MIGRATIONS)],
                          cwd=folder, capture_output=True, text=True,
                          env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"})
    return proc.returncode, json.loads(proc.stdout)


def _ours(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each of the three rules' finding, also when the engine folded it into another one on its statement."""
    found: dict[str, dict[str, Any]] = {}
    for finding in doc["findings"]:
        for merged in [finding, *finding.get("context", {}).get("merged", [])]:
            if merged.get("rule") in RULES:
                found[merged["rule"]] = merged
    return found


def test_plan_against_live_data_turns_the_three_misses_into_blocking_findings(db: Any, tmp_path: Path) -> None:
    for name, sql in MIGRATIONS.items():
        (tmp_path / name).write_text(sql)
    with db.connect() as conn:
        conn.execute("create type \"Role\" as enum ('USER', 'ADMIN', 'MODERATOR')")
        conn.execute('create table "User" (id int primary key, email text, role "Role")')
        conn.execute("insert into \"User\" select g, 'u' || (g % 4000) || '@x.io', "
                     "case when g % 50 = 0 then 'MODERATOR' else 'USER' end::\"Role\" from generate_series(1, 5000) g")
    _, static = _plan(tmp_path, "")
    assert {f["rule"]: f["severity"] for f in _ours(static).values()} == {
        "unique-on-duplicate-values": "info", "enum-value-removed-in-use": "medium"}
    code, live = _plan(tmp_path, db.url)
    found = _ours(live)
    assert set(found) == RULES, live["findings"]
    assert {f["severity"] for f in found.values()} == {"high"} and code == 3
    assert found["unique-on-duplicate-values"]["context"]["duplicate_keys"] == 1000  # 1,000 emails twice
    assert found["enum-value-removed-in-use"]["context"]["rows_holding"] == 100
