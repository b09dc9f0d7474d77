"""pgwarden's image, built from this checkout and run by a real Docker engine, as the workflows run it.

The reusable workflows run the jobs in the image as ``--user 1001`` (the runner's uid) with the
workspace mounted; these tests do the same: the version, a plan of a mounted folder, the demo, a
deploy against a real PostgreSQL (the embedded server's socket mounted), a backup of the
PostgreSQL 15 server on 127.0.0.1:5432 with the image's pg_dump 18, ``docker stop`` ending a
deploy within seconds (pgwarden handles SIGTERM as PID 1), and a report into a folder the user may
not write. Containers use the host's network (the private engine has no bridge).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.fix_pg import TestDatabase
from tests.fix_project import write_sql_project
from tests.image.conftest import DockerEngine

pytestmark = [pytest.mark.image, pytest.mark.slow]

RunImage = Callable[..., CompletedProcess[str]]
RUNNER_UID = 1001  # the uid of GitHub's runner user, and of the image's own user


def _owned_by(path: Path, uid: int) -> Path:
    """A folder of tmp_path a container user may use (pytest makes tmp_path 0700, owned by root)."""
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, uid)
    path.chmod(0o755)
    return path


@pytest.fixture
def run_image(docker_engine: DockerEngine, pgwarden_image: str) -> RunImage:
    def run(*args: str, mounts: tuple[str, ...] = (), env: dict[str, str] | None = None,
            user: str = str(RUNNER_UID), timeout: float = 180) -> CompletedProcess[str]:
        options = ["run", "--rm", "--network", "host", "--user", user]
        for mount in mounts:
            options += ["-v", mount]
        for name, value in (env or {}).items():
            options += ["-e", f"{name}={value}"]
        return docker_engine.run(*options, pgwarden_image, *args, timeout=timeout)

    return run


def test_version_user_and_workdir(docker_engine: DockerEngine, pgwarden_image: str) -> None:
    done = docker_engine.run("run", "--rm", pgwarden_image, "--version", check=True)
    assert done.stdout.strip() == "pgwarden 0.1.0"
    labels = json.loads(docker_engine.run("inspect", "--format", "{{json .Config.Labels}}", pgwarden_image,
                                          check=True).stdout)
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    # The workflows' --user 1001 is the image's user: a name, a home, /work its own.
    who = docker_engine.run(
        "run", "--rm", "--user", "1001", "--entrypoint", "bash", pgwarden_image, "-c",
        'id; echo "home=$HOME"; stat -c "%u %a" /work "$HOME"; git --version; test -w "$HOME" && echo writable',
        check=True).stdout
    assert "uid=1001(pgwarden) gid=1001(pgwarden)" in who
    assert "home=/home/pgwarden" in who
    assert "1001 755" in who.splitlines()[2]
    assert "git version 2." in who and "writable" in who
    # Every module `pgwarden --version` loads has its bytecode in the image: the non-root user
    # could not write it, and each start would compile again.
    imported = docker_engine.run(
        "run", "--rm", "--entrypoint", "python3", pgwarden_image, "-c",
        "import os, sys, pgwarden.cli.main\n"
        "c = [m.__cached__ for m in list(sys.modules.values()) if getattr(m, '__cached__', None)]\n"
        "print(len(c), [p for p in c if not os.path.exists(p)])", check=True).stdout.split(" ", 1)
    assert int(imported[0]) > 50 and imported[1].strip() == "[]", imported


def test_plan_of_a_mounted_folder(run_image: RunImage, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_sql_project(project, {"0001_users": "CREATE TABLE users (id bigint PRIMARY KEY);\n",
                                "0002_index": "CREATE INDEX orders_created ON orders (created_at);\n"})
    _owned_by(project, RUNNER_UID)
    done = run_image("plan", "--format", "json", mounts=(f"{project}:/work",))
    assert done.returncode in (0, 3), done.stderr
    plan = json.loads(done.stdout)
    assert [m["name"] for m in plan["migrations"]] == ["0001_users", "0002_index"]
    # CREATE INDEX without CONCURRENTLY on a table the migrations do not create: what the review is for.
    assert any(f["rule"] == "require-concurrent-index" for f in plan["findings"]), plan["findings"]


def test_report_into_a_folder_the_user_cannot_write(run_image: RunImage, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_sql_project(project, {"0001_t": "CREATE TABLE t (id int);\n"})
    _owned_by(project, RUNNER_UID)
    out = tmp_path / "out"  # root's, 0755: uid 1001 may read it, not write into it
    out.mkdir()
    out.chmod(0o755)
    done = run_image("plan", "--output", "/out/plan.md", mounts=(f"{project}:/work", f"{out}:/out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "permission denied: /out/plan.md (pgwarden runs as uid 1001, gid 1001)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (out / "plan.md").exists()


def test_demo_as_the_runner_uid(run_image: RunImage) -> None:
    # initdb refuses a uid without a passwd entry: the image's user has one.
    done = run_image("demo", "--workdir", "/tmp/demo", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[6/6 restore]" in done.stdout + done.stderr


@pytest.mark.parametrize("user", ["1001", "4242:4242"], ids=["runner-uid", "uid-without-passwd-entry"])
def test_deploy_as_a_container_user(run_image: RunImage, tmp_path: Path, db: TestDatabase,
                                    pg_tcp: Callable[[TestDatabase], str], user: str) -> None:
    project = tmp_path / "project"
    write_sql_project(project, {"0001_orders": "CREATE TABLE orders (id bigint PRIMARY KEY);\n"})
    uid = int(user.partition(":")[0])
    _owned_by(project, uid)
    env = {"DATABASE_URL": pg_tcp(db)}  # no GITHUB_ACTOR: who applied comes from the uid
    mounts = (f"{project}:/work",)
    backup = run_image("backup", mounts=mounts, env=env, user=user)
    assert backup.returncode == 0, backup.stderr
    deploy = run_image("deploy", mounts=mounts, env=env, user=user)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert db.scalar("select count(*) from orders") == 0
    applied_by = db.scalar("select applied_by from pgwarden_migrations where name = '0001_orders'")
    assert applied_by == ("pgwarden" if uid == RUNNER_UID else "uid 4242")
    assert all(p.stat().st_uid == uid for p in (project / "backups").rglob("*"))


def test_backup_of_the_postgresql_15_server(run_image: RunImage, tmp_path: Path,
                                            pg15: TestDatabase) -> None:
    pg15.execute("create table orders (id bigint primary key, total numeric)")
    pg15.execute("insert into orders select g, g * 1.5 from generate_series(1, 500) g")
    project = tmp_path / "project"
    write_sql_project(project, {"0001_orders": "CREATE TABLE orders (id bigint PRIMARY KEY);\n"})
    _owned_by(project, RUNNER_UID)
    done = run_image("backup", "--format", "json", mounts=(f"{project}:/work",), env={"DATABASE_URL": pg15.url})
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["server_version"].startswith("15"), manifest
    assert manifest["verified"] is True
    archives = [p for p in (project / "backups").rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert archives and all(p.stat().st_uid == RUNNER_UID for p in archives)


@pytest.fixture
def container_name(docker_engine: DockerEngine) -> Iterator[str]:
    name = "pgwarden-test-" + uuid.uuid4().hex[:8]
    yield name
    docker_engine.run("rm", "--force", name)


def test_docker_stop_ends_a_deploy_within_seconds(docker_engine: DockerEngine, pgwarden_image: str,
                                                  tmp_path: Path, db: TestDatabase,
                                                  pg_tcp: Callable[[TestDatabase], str], container_name: str) -> None:
    project = tmp_path / "project"
    # The pre hook says it started, then would run for five minutes: pgwarden waits on a child.
    write_sql_project(project, {"0001_orders": "CREATE TABLE orders (id bigint PRIMARY KEY);\n"},
                      extra="deploy:\n  hooks:\n    pre: touch hook-started && exec sleep 300\n")
    _owned_by(project, RUNNER_UID)
    options = ["--network", "host", "--user", "1001", "-v", f"{project}:/work", "-e", f"DATABASE_URL={pg_tcp(db)}"]
    docker_engine.run("run", "--rm", *options, pgwarden_image, "backup", check=True)
    docker_engine.run("run", "--detach", "--name", container_name, *options, pgwarden_image, "deploy", check=True)
    deadline = time.monotonic() + 120
    while not (project / "hook-started").exists():
        state = docker_engine.run("inspect", "--format", "{{.State.Running}}", container_name).stdout.strip()
        assert state == "true", docker_engine.run("logs", container_name).stderr
        assert time.monotonic() < deadline, "the pre hook never started"
        time.sleep(0.2)
    started = time.monotonic()
    docker_engine.run("stop", "--time", "10", container_name, check=True)  # SIGTERM, SIGKILL after 10 s
    took = time.monotonic() - started
    exit_code = docker_engine.run("inspect", "--format", "{{.State.ExitCode}}", container_name).stdout.strip()
    logs = docker_engine.run("logs", container_name)
    assert took < 8, f"docker stop took {took:.1f} s: SIGTERM was not handled"
    assert exit_code == "143", logs.stdout + logs.stderr
    assert "pgwarden deploy: terminated (SIGTERM)" in logs.stderr
    assert "Traceback" not in logs.stderr
    # Nothing was migrated, and the deploy lock is free again: a second deploy (no hook) proceeds.
    assert db.scalar("select to_regclass('orders') is null") is True
    config = project / "pgwarden.yml"
    config.write_text(config.read_text().replace("touch hook-started && exec sleep 300", "echo ready"))
    again = docker_engine.run("run", "--rm", *options, pgwarden_image, "deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    assert db.scalar("select to_regclass('orders') is not null") is True


@pytest.mark.parametrize(("target", "tool_check", "expected"), [
    ("node", "node --version && npm --version", "v18."),
    ("php", "php -m && composer --version --no-interaction", "pdo_pgsql"),
], ids=["node", "php"])
def test_variants_carry_the_migration_tools_runtime(docker_engine: DockerEngine,
                                                    image_builder: Callable[[str], str],
                                                    target: str, tool_check: str, expected: str) -> None:
    # The project's own Prisma (npm ci) or vendor/ (composer install) comes from the setup-command.
    image = image_builder(target)
    done = docker_engine.run("run", "--rm", "--network", "host", "--user", "1001", "--entrypoint", "bash", image,
                             "-c", f"pgwarden --version && {tool_check}", check=True)
    assert done.stdout.startswith("pgwarden 0.1.0")
    assert expected in done.stdout, done.stdout
