"""Benchmark: plain ``pg_dump -Fc`` / ``pg_restore`` (the seeds' commands) vs pgwarden's defaults.

Run by hand, not in CI:

    python bench/backup_restore.py              # 2M events + 300k users, about 450 MB
    python bench/backup_restore.py --scale 0.25 # a quicker run
    taskset -c 0 python bench/backup_restore.py # on one core (the server it starts inherits it)

It starts a throwaway embedded PostgreSQL 18 with autovacuum off (or uses --database-url, a
superuser URL, as it is configured), fills
a database with data that compresses like real data (timestamps, md5 text, jsonb, numerics;
not pgbench's filler, which compresses 50:1), then times, in one run:

- backup:  ``pg_dump -Fc -f FILE``  vs  ``pgwarden backup`` (custom format, zstd outside, verified)
- restore: ``pg_restore -d NEWDB FILE``  vs  ``pgwarden restore --into NEWDB`` (checksums verified
  before, row counts compared after: everything pgwarden does is inside the timing), then
  ``pgwarden restore --confirm`` in place over that database (one transaction on pgwarden's own
  connection, committed after the row counts match)

Every timed restore starts on a settled machine (``CHECKPOINT``, ``sync``, then ``--settle`` seconds),
and the restores run ``--repeat`` rounds (default 5), each round plain, ``--into`` and in place one after
the other; the table shows medians, with the ratio of every round in brackets. On a shared virtual
machine the rounds move a lot (seen 2026-12-03: 0.87x - 1.28x for the same in-place code, while a
pure-Python loop of fixed work took 2.5 - 3.2 s from one run to the next): quote the median of a full
run, never one round.

pgwarden's backup carries the planner statistics (pg_dump 18 ``--statistics``), so its restores
analyze only the tables that came without them; plain ``pg_dump -Fc`` carries none, and plain
pg_restore leaves the database without statistics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pgwarden.config import Settings
from pgwarden.pg.binaries import find_client
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup

FILL = """
create table users (
    id bigint primary key, email text not null, name text not null, created_at timestamptz not null,
    balance numeric(12, 2) not null, prefs jsonb not null);
insert into users
select i, 'user' || i || '@example.com', md5(i::text), now() - (i || ' minutes')::interval,
       (random() * 10000)::numeric(12, 2),
       jsonb_build_object('lang', (array['en','ja','de','fr'])[1 + i % 4], 'token', md5((i * 3)::text))
from generate_series(1, {users}) i;
create table events (
    id bigint primary key, user_id bigint not null references users(id), occurred_at timestamptz not null,
    kind text not null, amount numeric(14, 4), digest text not null, payload jsonb not null);
insert into events
select i, 1 + (i * 7919) % {users}, now() - (i || ' seconds')::interval,
       (array['view','click','purchase','refund','login'])[1 + i % 5], (random() * 1000)::numeric(14, 4),
       md5(i::text || 'x'),
       jsonb_build_object('ip', '10.' || (i % 255) || '.' || (i * 7 % 255) || '.1', 'ua', md5((i % 5000)::text),
                          'n', i, 'r', random())
from generate_series(1::bigint, {events}) i;
create index events_user_idx on events (user_id);
create index events_time_idx on events (occurred_at);
analyze;
"""


def timed(label: str, action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    elapsed = time.monotonic() - started
    print(f"  {label}: {elapsed:.2f}s", flush=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 2M events + 300k users (~450 MB)")
    parser.add_argument("--restore-jobs", type=int, help="restore.jobs for pgwarden (default: the config default)")
    parser.add_argument("--repeat", type=int, default=5, help="restore rounds; the table shows medians (default 5)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds to wait (after a checkpoint and a sync) before each timed restore (default 5)")
    parser.add_argument("--database-url", help="superuser URL of a server to use (default: embedded PG 18)")
    args = parser.parse_args()

    server = None
    if args.database_url:
        admin_url = args.database_url
    else:
        from pgwarden.pg.embedded import start_embedded

        server = start_embedded()
        admin_url = server.url()
        # Autovacuum would vacuum each freshly restored database while the next timed run goes on,
        # so every run would pay for the one before it. Off on this throwaway server only.
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("alter system set autovacuum = off")
            conn.execute("select pg_reload_conf()")
    work = Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    try:
        admin = DatabaseTarget.from_url(admin_url)
        users, events = int(300_000 * args.scale), int(2_000_000 * args.scale)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in ("bench", "bench_plain", "bench_pgw"):
                conn.execute(f"drop database if exists {name} with (force)")
            conn.execute("create database bench")
        source = admin.with_dbname("bench")
        print(f"filling: {users} users, {events} events ...", flush=True)
        with psycopg.connect(source.conninfo(), autocommit=True) as conn:
            started = time.monotonic()
            conn.execute(FILL.format(users=users, events=events))
            row = conn.execute("select pg_database_size(current_database())").fetchone()
            assert row is not None
            size = row[0]
        print(f"  database size {size / 1e6:.0f} MB (filled in {time.monotonic() - started:.0f}s)")

        pg_dump = find_client("pg_dump", 18)
        pg_restore = find_client("pg_restore", 18)
        plain_file = work / "plain.dump"
        env = source.child_env()
        print("backup:")
        plain_backup = timed("pg_dump -Fc", lambda: subprocess.run(
            [str(pg_dump.path), "-Fc", f"--dbname={source.child_dbname_arg()}", f"--file={plain_file}"],
            check=True, env=env))
        settings = Settings(base_dir=str(work))
        settings.backup.store = "file://./store"
        if args.restore_jobs:
            settings.restore.jobs = args.restore_jobs
        holder: dict[str, Any] = {}
        pgw_backup = timed("pgwarden backup", lambda: holder.setdefault("m", take_backup(settings, source)))
        manifest = holder["m"]

        # Each timed restore starts on a settled machine: after a CHECKPOINT (otherwise the WAL one
        # restore leaves behind makes the server checkpoint in the middle of the next, max_wal_size,
        # and whichever runs second pays for the first), after the kernel wrote out what the run before
        # left dirty (sync), and a pause for the disk to finish (the virtual disks seen here go on
        # writing and discarding for seconds after a big delete).
        def checkpoint() -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute("checkpoint")
            os.sync()
            time.sleep(args.settle)

        def fresh(name: str) -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"drop database if exists {name} with (force)")
                if name == "bench_plain":
                    conn.execute(f"create database {name}")
            checkpoint()

        in_place_target = source.with_dbname("bench_pgw")
        runs: dict[str, list[float]] = {"plain": [], "into": [], "in_place": []}
        result_holder: dict[str, Any] = {}
        for round_no in range(1, args.repeat + 1):
            print(f"restore (round {round_no} of {args.repeat}):")
            fresh("bench_plain")
            runs["plain"].append(timed("pg_restore", lambda: subprocess.run(
                [str(pg_restore.path), f"--dbname={source.with_dbname('bench_plain').child_dbname_arg()}",
                 str(plain_file)], check=True, env=env)))
            fresh("bench_pgw")
            runs["into"].append(timed("pgwarden restore", lambda: result_holder.__setitem__(
                "r", restore_backup(settings, source, manifest.id, into="bench_pgw"))))
            assert result_holder["r"].ok, result_holder["r"].to_json()
            # In place over the database just restored: the atomic path (prelude + archive in one
            # transaction of pgwarden's own), what a responder runs. Nothing to compare it with in plain
            # pg_restore, whose --clean is not atomic unless --single-transaction, and fails on objects
            # added after the backup.
            checkpoint()
            runs["in_place"].append(timed("pgwarden restore in place", lambda: result_holder.__setitem__(
                "p", restore_backup(settings, in_place_target, manifest.id, confirm="bench_pgw",
                                    allow_other_database=True))))  # the source's backup, on purpose
            assert result_holder["p"].ok, result_holder["p"].to_json()
        result = result_holder["r"]
        plain_restore, pgw_restore, pgw_in_place = (statistics.median(runs[k]) for k in ("plain", "into", "in_place"))

        def per_run(key: str) -> str:
            return ", ".join(f"{p / t:.2f}" for p, t in zip(runs["plain"], runs[key], strict=True))

        plain_size = plain_file.stat().st_size
        print()
        print(f"| data: {users} users + {events} events, database {size / 1e6:.0f} MB | plain | pgwarden | ratio |")
        print("|---|---:|---:|---:|")
        print(f"| backup time (s) | {plain_backup:.2f} | {pgw_backup:.2f} | {plain_backup / pgw_backup:.2f}x faster |")
        print(f"| archive size (MB) | {plain_size / 1e6:.1f} | {manifest.size_bytes / 1e6:.1f} | "
              f"{manifest.size_bytes / plain_size:.2f} of plain |")
        print(f"| restore time, `--into` (s) | {plain_restore:.2f} | {pgw_restore:.2f} | "
              f"{plain_restore / pgw_restore:.2f}x faster ({per_run('into')}) |")
        print(f"| restore in place, atomic (s) | {plain_restore:.2f} | {pgw_in_place:.2f} | "
              f"{plain_restore / pgw_in_place:.2f}x faster ({per_run('in_place')}) |")
        print(f"\npgwarden restore: {result.details['method']}; fetch+verify {result.details['fetch_s']}s, "
              f"pg_restore {result.details['restore_s']}s, ANALYZE of what came without statistics "
              f"{result.details['analyze_s']}s (in place: "
              f"{result_holder['p'].details['analyze_s']}s); backup verification is inside the backup time")
        print(f"cores: {len(os.sched_getaffinity(0))}; restore times are medians of {args.repeat} rounds "
              "(ratio per round in brackets)")
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
