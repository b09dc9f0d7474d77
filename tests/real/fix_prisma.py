"""A real Prisma project in a temp folder, driven through the real Prisma 6.19.3 CLI.

The CLI comes from the committed lockfile in tests/real/prisma-runtime/ (``prisma@6.19.3`` and
``@prisma/adapter-pg@7.10.1``), installed by ``scripts/provision-prisma`` with ``npm ci
--ignore-scripts`` into a cache kept between runs. Prisma 6.19's bundled WebAssembly schema engine
runs offline through the driver adapter (``prisma.config.ts``: ``engine: "js"``, ``adapter()``
returning ``new PrismaPg({..., allowExitOnIdle: true})``); it splits ``migration.sql`` on ``;`` and
runs the pieces without a transaction (the native engine's one-query semantics are tested through
the stand-in, tests/corpus/prisma/fake_prisma.py).

- ``prisma_runtime`` (session): the runtime folder; skips naming ``scripts/provision-prisma`` when
  node/npm or the runtime cannot be had.
- ``prisma_project``: a project in ``tmp_path`` (``node_modules`` linked to the runtime) with a
  ``pgwarden.yml`` (tool prisma, file store), as a :class:`PrismaProject`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVISION = ROOT / "scripts" / "provision-prisma"
#: Unrefs the 10 s timer Prisma 6.19's WebAssembly engine leaves behind on every migrate deploy
#: (see the file); the tests only, pgwarden never sets it.
UNREF_TIMERS = ROOT / "tests" / "real" / "prisma-runtime" / "unref-engine-timers.js"

CONFIG_TS = """\
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  async adapter() {
    return new PrismaPg({ connectionString: process.env.DATABASE_URL, allowExitOnIdle: true });
  },
});
"""
SCHEMA = """\
generator client {
  provider   = "prisma-client-js"
  engineType = "client"
}

datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}
"""
PGWARDEN_YML = """\
migrations:
  tool: prisma
  path: prisma/migrations
backup:
  store: file://./backups
"""


@dataclass
class PrismaProject:
    root: Path

    @property
    def migrations(self) -> Path:
        return self.root / "prisma" / "migrations"

    @property
    def config(self) -> Path:
        return self.root / "pgwarden.yml"

    def add(self, name: str, sql: str | bytes) -> Path:
        folder = self.migrations / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "migration.sql"
        path.write_bytes(sql if isinstance(sql, bytes) else sql.encode())
        return path

    def prisma(self, url: str, *args: str, env: dict[str, str] | None = None,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """The project's own ``npx prisma ...`` against ``url`` (as a user would run it)."""
        full = {**os.environ, **prisma_env(), "DATABASE_URL": url, **(env or {})}
        proc = subprocess.run(["npx", "--no-install", "prisma", *args], cwd=self.root, env=full,
                              capture_output=True, text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"prisma {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc


def prisma_env() -> dict[str, str]:
    """What every Prisma child of the tests gets: no update check, no 10 s wait at exit."""
    return {"CHECKPOINT_DISABLE": "1", "PRISMA_HIDE_UPDATE_MESSAGE": "1",
            "NODE_OPTIONS": f"--require {UNREF_TIMERS}"}


def prisma_missing_reason(why: str) -> str:
    return f"the real Prisma CLI is not available ({why}); run scripts/provision-prisma (needs node and npm)"


@pytest.fixture(scope="session")
def prisma_runtime() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(prisma_missing_reason("node/npm not installed"))
    proc = subprocess.run([str(PROVISION), "--path"], capture_output=True, text=True, timeout=600, check=False)
    lines = proc.stdout.strip().splitlines()
    runtime = Path(lines[-1]) if lines else None
    if runtime is None or not (runtime / "node_modules" / ".bin" / "prisma").exists():
        pytest.skip(prisma_missing_reason((proc.stdout + proc.stderr).strip()[-300:] or "provisioning failed"))
    return runtime


@pytest.fixture
def prisma_project(prisma_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrismaProject]:
    root = tmp_path / "app"
    (root / "prisma" / "migrations").mkdir(parents=True)
    (root / "node_modules").symlink_to(prisma_runtime / "node_modules")
    (root / "package.json").write_text('{"private": true}\n')
    (root / "prisma.config.ts").write_text(CONFIG_TS)
    (root / "prisma" / "schema.prisma").write_text(SCHEMA)
    (root / "prisma" / "migrations" / "migration_lock.toml").write_text('provider = "postgresql"\n')
    (root / "pgwarden.yml").write_text(PGWARDEN_YML)
    for key, value in prisma_env().items():
        monkeypatch.setenv(key, value)
    yield PrismaProject(root)
