"""Benchmark: what ``pgwarden rehearse`` costs over doing the same by hand (issue 14, "Measured").

Run by hand, not in CI:

    python bench/rehearse.py                      # sql tool, 300,000 rows, 3 rounds
    python bench/rehearse.py --tool laravel       # real Laravel 8 (scripts/provision-laravel)
    python bench/rehearse.py --tool prisma        # real Prisma 6.19 (scripts/provision-prisma)
    python bench/rehearse.py --rows 1000000 --repeat 5

One database of ``--rows`` orders (plus 1,000 customers) built by the tool's own first migration, one
``pgwarden backup`` of it (and a plain ``pg_dump -Fc`` of the same data), and three pending migrations
that all succeed: a backfill inside the ALTER's transaction, a column type change (a rewrite) and an
index build. Then, in each round, the same rehearsal three ways, each from nothing to a dropped copy:

- rehearse: ``pgwarden rehearse --format json`` (restore into a scratch database, the deploy path with
  the lock sampler, attribution, drop);
- restore + deploy: ``pgwarden restore --into COPY`` then ``pgwarden deploy --database-url COPY
  --no-backup`` (the same restore and deploy code without the sampler), then DROP DATABASE;
- plain: ``createdb`` + ``pg_restore -d COPY`` of the plain dump, then the tool itself (``psql -1 -f``
  per file, ``php artisan migrate --force``, ``npx prisma migrate deploy``), then DROP DATABASE.

Every command runs as its own process (as a user or the workflow runs it: interpreter start-up
included), each way after a CHECKPOINT (the WAL of one run would otherwise land in the next), in
another order each round.
Times are medians of ``--repeat`` rounds; the ratios are of those medians, per round in brackets.
Prisma runs with tests/real/prisma-runtime/unref-engine-timers.js preloaded in both the pgwarden and
the plain runs (without it every ``migrate deploy`` waits 10 s after its work: Prisma 6.19's engine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pgwarden.pg.binaries import find_client  # noqa: E402
from pgwarden.pg.connection import DatabaseTarget  # noqa: E402

BUILD = """\
CREATE TABLE orders (id bigint PRIMARY KEY, ref int NOT NULL, customer_id int NOT NULL, amount int NOT NULL,
    note text NOT NULL);
INSERT INTO orders SELECT g, g, g % 1000, g % 97, md5(g::text) FROM generate_series(1, {rows}) g;
CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;
"""
#: The pending migrations, as SQL; each tool's form is built from these.
PENDING = {
    "backfill": ["ALTER TABLE orders ADD COLUMN amount_cents bigint",
                 "UPDATE orders SET amount_cents = amount * 100"],
    "widen_ref": ["ALTER TABLE orders ALTER COLUMN ref TYPE bigint"],
    "customer_index": ["CREATE INDEX orders_customer_idx ON orders (customer_id)"],
}


@dataclass
class Project:
    """A project of one tool: where it lives, how the tool itself applies what is pending."""

    root: Path
    tool: str
    env: dict[str, str] = field(default_factory=dict)

    def write_config(self, path: str) -> None:
        (self.root / "pgwarden.yml").write_text(
            f"migrations:\n  tool: {self.tool}\n  path: {path}\nbackup:\n  store: file://./store\n")

    def write(self) -> None:
        """Lay the project out (its config, the tool's files)."""
        raise NotImplementedError

    def add(self, index: int, name: str, statements: list[str]) -> None:
        """Migration number ``index`` running ``statements`` in one transaction, in the tool's form."""
        raise NotImplementedError

    def build(self, url: str) -> None:
        """Apply what is there with the tool (the first migration builds the data)."""
        raise NotImplementedError

    def plain_commands(self, url: str) -> list[list[str]]:
        """The tool's own commands that apply what is pending on ``url``."""
        raise NotImplementedError


class SqlProject(Project):
    def write(self) -> None:
        (self.root / "migrations").mkdir(parents=True)
        self.write_config("migrations")

    def add(self, index: int, name: str, statements: list[str]) -> None:
        (self.root / "migrations" / f"{index:04d}_{name}.sql").write_text("".join(f"{s};\n" for s in statements))

    def build(self, url: str) -> None:
        _run([sys.executable, "-m", "pgwarden", "deploy", "--database-url", url, "--no-backup", "--reason",
              "bench: build the data"], cwd=self.root)

    def plain_commands(self, url: str) -> list[list[str]]:
        psql = str(find_client("psql").path)
        files = sorted((self.root / "migrations").glob("*.sql"))[1:]  # the first one built the data
        return [[psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", url, "-f", str(f)] for f in files]


class LaravelProject(Project):
    def write(self) -> None:
        from tests.real.fix_laravel import laravel_missing, write_skeleton

        missing = laravel_missing()
        if missing:
            raise SystemExit(f"real Laravel unavailable: {missing}; run scripts/provision-laravel")
        write_skeleton(self.root)
        self.write_config("database/migrations")

    def add(self, index: int, name: str, statements: list[str]) -> None:
        from tests.real.fix_laravel import migration_php

        body = "\n".join(f"DB::unprepared(<<<'SQL'\n{s}\nSQL\n);" for s in statements)
        (self.root / "database/migrations" / f"2025_01_01_{index:06d}_{name}.php").write_text(migration_php(body))

    def _artisan(self, url: str) -> list[str]:
        from tests.real.fix_laravel import laravel_url

        return ["env", f"DATABASE_URL={laravel_url(url)}", "php", "artisan", "migrate", "--force", "--no-ansi"]

    def build(self, url: str) -> None:
        _run(self._artisan(url), cwd=self.root)

    def plain_commands(self, url: str) -> list[list[str]]:
        return [self._artisan(url)]


class PrismaProject(Project):
    def write(self) -> None:
        from tests.real import fix_prisma

        proc = subprocess.run([str(fix_prisma.PROVISION), "--path"], capture_output=True, text=True, check=False)
        runtime = Path(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
        if runtime is None or not (runtime / "node_modules/.bin/prisma").exists():
            raise SystemExit(f"the real Prisma CLI is not available: {proc.stdout}{proc.stderr}")
        (self.root / "prisma/migrations").mkdir(parents=True)
        (self.root / "node_modules").symlink_to(runtime / "node_modules")
        (self.root / "package.json").write_text('{"private": true}\n')
        (self.root / "prisma.config.ts").write_text(fix_prisma.CONFIG_TS)
        (self.root / "prisma/schema.prisma").write_text(fix_prisma.SCHEMA)
        (self.root / "prisma/migrations/migration_lock.toml").write_text('provider = "postgresql"\n')
        self.write_config("prisma/migrations")
        self.env = fix_prisma.prisma_env()

    def add(self, index: int, name: str, statements: list[str]) -> None:
        folder = self.root / "prisma/migrations" / f"2025010100{index:04d}_{name}"
        folder.mkdir()
        # The adapter engine runs the pieces without a transaction: the file's own makes it one.
        body = "".join(f"{s};\n" for s in statements)
        (folder / "migration.sql").write_text(f"BEGIN;\n{body}COMMIT;\n" if len(statements) > 1 else body)

    def build(self, url: str) -> None:
        _run(["env", f"DATABASE_URL={url}", "npx", "--no-install", "prisma", "migrate", "deploy"], cwd=self.root,
             env=self.env)

    def plain_commands(self, url: str) -> list[list[str]]:
        return [["env", f"DATABASE_URL={url}", "npx", "--no-install", "prisma", "migrate", "deploy"]]


PROJECTS: dict[str, Callable[[Path], Project]] = {
    "sql": lambda root: SqlProject(root, "sql"),
    "laravel": lambda root: LaravelProject(root, "laravel"),
    "prisma": lambda root: PrismaProject(root, "prisma"),
}


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          check=False)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv[:6])} … exited {proc.returncode}:\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-2000:]}")
    return proc.stdout


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", choices=sorted(PROJECTS), default="sql")
    parser.add_argument("--rows", type=int, default=300_000, help="orders rows (default 300,000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians (default 3)")
    parser.add_argument("--database-url", help="superuser URL of a server to use (default: embedded PG 18)")
    args = parser.parse_args()

    server = None
    if args.database_url:
        admin_url = args.database_url
    else:
        from pgwarden.pg.embedded import start_embedded

        server = start_embedded()
        admin_url = server.url()
        with psycopg.connect(admin_url, autocommit=True) as conn:  # a throwaway server: see backup_restore.py
            conn.execute("alter system set autovacuum = off")
            conn.execute("select pg_reload_conf()")
    work = Path(tempfile.mkdtemp(prefix="pgwarden-bench-rehearse-"))
    admin = DatabaseTarget.from_url(admin_url)
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in ("bench_src", "bench_copy", "bench_plain"):
                conn.execute(f"drop database if exists {name} with (force)")
            conn.execute("create database bench_src")
        source_url = admin.with_dbname("bench_src").url()
        copy_url = admin.with_dbname("bench_copy").url()
        plain_url = admin.with_dbname("bench_plain").url()

        project = PROJECTS[args.tool](work / "app")
        project.root.mkdir(parents=True)
        project.write()
        project.add(1, "build_orders", [BUILD.format(rows=args.rows).strip().rstrip(";")])
        print(f"building {args.rows:,} orders with {args.tool} ...", flush=True)
        project.build(source_url)
        for index, (name, statements) in enumerate(PENDING.items(), start=2):
            project.add(index, name, statements)
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute("analyze")
            row = conn.execute("select pg_database_size(current_database())").fetchone()
            size = int(row[0]) if row else 0
        env = {**project.env, "DATABASE_URL": source_url}
        pgw = [sys.executable, "-m", "pgwarden"]
        manifest = json.loads(_run([*pgw, "backup", "--format", "json"], cwd=project.root, env=env))
        dump = work / "plain.dump"
        source = admin.with_dbname("bench_src")
        subprocess.run([str(find_client("pg_dump", 18).path), "-Fc", f"--dbname={source.child_dbname_arg()}",
                        f"--file={dump}"], check=True, env=source.child_env())
        pg_restore = str(find_client("pg_restore", 18).path)
        plain = admin.with_dbname("bench_plain")

        def admin_sql(statement: str) -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(statement)

        def rehearse() -> dict[str, Any]:
            out = _run([*pgw, "rehearse", "--format", "json"], cwd=project.root, env=env)
            report: dict[str, Any] = json.loads(out)
            assert report["ok"] and report["dropped"], report
            assert [m["status"] for m in report["migrations"]] == ["applied"] * len(PENDING), report
            return report

        runs: dict[str, list[float]] = {"rehearse": [], "restore_deploy": [], "plain": []}
        parts: dict[str, list[float]] = {key: [] for key in (
            "rehearse.restore", "rehearse.migrate", "restore --into", "deploy", "pg_restore", "tool")}

        def part(key: str, action: Callable[[], object]) -> None:
            parts[key].append(_timed(action))

        def restore_deploy() -> None:
            part("restore --into", lambda: _run([*pgw, "restore", "--backup-id", manifest["id"], "--into",
                                                 "bench_copy"], cwd=project.root, env=env))
            part("deploy", lambda: _run([*pgw, "deploy", "--database-url", copy_url, "--no-backup", "--reason",
                                         "bench"], cwd=project.root, env=env))
            admin_sql("drop database bench_copy with (force)")

        def plain_run() -> None:
            admin_sql("create database bench_plain")
            part("pg_restore", lambda: subprocess.run(
                [pg_restore, f"--dbname={plain.child_dbname_arg()}", str(dump)], check=True, env=plain.child_env()))
            part("tool", lambda: [_run(argv, cwd=project.root, env=project.env)
                                  for argv in project.plain_commands(plain_url)])
            admin_sql("drop database bench_plain with (force)")

        def rehearse_run() -> None:
            report = rehearse()
            parts["rehearse.restore"].append(report["restore_s"])
            parts["rehearse.migrate"].append(report["migrate_s"])

        ways: list[tuple[str, Callable[[], None]]] = [
            ("rehearse", rehearse_run), ("restore_deploy", restore_deploy), ("plain", plain_run)]
        for round_no in range(1, args.repeat + 1):
            # Each round in another order: whatever a run leaves behind (dirty pages, a busier
            # neighbour on a shared machine) lands on a different way each time.
            start = (round_no - 1) % len(ways)
            for key, action in ways[start:] + ways[:start]:
                admin_sql("checkpoint")
                runs[key].append(_timed(action))
            print(f"round {round_no} of {args.repeat}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in runs.items()),
                  flush=True)

        med = {key: statistics.median(values) for key, values in runs.items()}

        def per_round(over: str) -> str:
            return ", ".join(f"{r / o:.2f}" for r, o in zip(runs["rehearse"], runs[over], strict=True))

        print()
        print(f"| {args.tool}: {args.rows:,} orders, database {size / 1e6:.0f} MB, 3 migrations | time (s) | "
              "rehearse's time / this |")
        print("|---|---:|---:|")
        print(f"| plain: createdb + pg_restore + {args.tool} + drop | {med['plain']:.2f} | "
              f"{med['rehearse'] / med['plain']:.2f}x ({per_round('plain')}) |")
        print(f"| pgwarden restore --into + pgwarden deploy + drop | {med['restore_deploy']:.2f} | "
              f"{med['rehearse'] / med['restore_deploy']:.2f}x ({per_round('restore_deploy')}) |")
        print(f"| pgwarden rehearse | {med['rehearse']:.2f} | 1.00x |")
        mp = {key: statistics.median(values) for key, values in parts.items() if values}
        print(f"\nparts (medians): rehearse = restore {mp['rehearse.restore']:.2f} + migrations (deploy path, "
              f"sampler on) {mp['rehearse.migrate']:.2f} + the rest; restore --into {mp['restore --into']:.2f} + "
              f"deploy {mp['deploy']:.2f} + drop; pg_restore {mp['pg_restore']:.2f} + {args.tool} {mp['tool']:.2f}"
              f" + createdb/drop. Backup {manifest['id']} ({manifest['size_bytes'] / 1e6:.1f} MB)")
        print(f"cores: {len(os.sched_getaffinity(0))}; medians of {args.repeat} rounds, ratio per round in brackets")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
