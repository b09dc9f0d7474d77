"""How exact and how costly the rehearsal's lock sampler is (the figures in docs/rehearsal.md).

A session named like the migration tool's (``pgwarden-migrate``) holds an ACCESS EXCLUSIVE lock
for a known time ``h`` (timed on this side from just after LOCK returned to just before COMMIT
was sent, and from before LOCK to after COMMIT returned: the true hold lies between), commits a
history row, and attribute() reports ``held_s``. Printed per interval: the error of ``held_s``
against the middle of the true range, the tick period (median, longest), the sample query's
time, queries per second, and the CPU the sampler costs on both sides (its thread here, its
backend on the server, read from /proc when the server runs on this machine).

    python bench/lock_sampler.py [--intervals 0.01,0.05] [--holds 0.1,0.5,2] [--repeat 3] [--tables N]

Uses PGWARDEN_TEST_DSN (a superuser URL) when set, else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from pgwarden.names import MIGRATE_APPLICATION_NAME
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.embedded import start_embedded
from pgwarden.pg.lock_sampler import LockSampler
from pgwarden.pipeline.rehearse_measure import MigrateOutcome, attribute


def _cpu_s(pid: int | None) -> float | None:
    """utime + stime of a local process, None when it is not on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _done(conn: psycopg.Connection[Any]) -> set[str]:
    return {row[0] for row in conn.execute("select name from pgwarden_migrations").fetchall()}


def _one(url: str, interval_s: float, hold_s: float, name: str, tables: int) -> dict[str, float]:
    target = DatabaseTarget.from_url(url)
    with LockSampler(target, interval_s=interval_s, done=_done) as sampler, \
            psycopg.connect(url, autocommit=True, application_name=MIGRATE_APPLICATION_NAME) as conn:
        cpu0, wall0 = _cpu_s(sampler.backend_pid), time.monotonic()
        time.sleep(0.05)
        conn.execute("begin")
        sent = time.monotonic()
        conn.execute("lock table orders in access exclusive mode")
        if tables:
            conn.execute("lock table " + ", ".join(f"t{i}" for i in range(tables)) + " in share mode")
        acquired = time.monotonic()
        time.sleep(hold_s)
        conn.execute("insert into pgwarden_migrations values (%s)", (name,))
        committing = time.monotonic()
        conn.execute("commit")
        committed = time.monotonic()
        time.sleep(0.05)
        cpu1, wall1 = _cpu_s(sampler.backend_pid), time.monotonic()
    trace = sampler.trace
    assert trace is not None and not trace.errors, trace
    [record] = attribute(trace, [name], MigrateOutcome(applied=[name]))
    [lock] = [lk for lk in record.locks if lk.table == "public.orders"]
    gaps = [b - a for a, b in zip(trace.ticks, trace.ticks[1:], strict=False)]
    wall = trace.stopped_t - trace.started_t
    return {
        "error": lock.held_s - ((committing - acquired) + (committed - sent)) / 2,
        "client_uncertainty": ((committed - sent) - (committing - acquired)) / 2,
        "gap_median": statistics.median(gaps), "gap_max": max(gaps),
        "query_mean": trace.query_s_total / len(trace.ticks), "query_max": trace.query_s_max,
        "qps": (len(trace.ticks) + trace.done_polls) / wall,
        "client_cpu": trace.client_cpu_s / wall,
        "server_cpu": (cpu1 - cpu0) / (wall1 - wall0) if cpu0 is not None and cpu1 is not None else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", default="0.01,0.05")
    parser.add_argument("--holds", default="0.1,0.5,2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tables", type=int, default=0,
                        help="the migration also locks this many other tables (each with an index)")
    args = parser.parse_args()
    external = os.environ.get("PGWARDEN_TEST_DSN")
    server = None if external else start_embedded()
    admin_url = external or (server.url() if server else "")
    dbname = "bench_sampler_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{dbname}"')
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=dbname)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table orders (id int primary key); create table pgwarden_migrations (name text)")
            for i in range(args.tables):
                conn.execute(f"create table t{i} (id int primary key)")
        print("interval  hold   error mean/max (ms)  client ±(ms)  tick gap med/max (ms)  query mean/max (ms)"
              "  queries/s  CPU client/server (% of a core)")
        for interval in (float(x) for x in args.intervals.split(",")):
            for hold in (float(x) for x in args.holds.split(",")):
                runs = [_one(url, interval, hold, f"m{i}_{interval}_{hold}", args.tables) for i in range(args.repeat)]
                errors = [r["error"] * 1000 for r in runs]
                worst = max(errors, key=abs)

                def mean(key: str, runs: list[dict[str, float]] = runs) -> float:
                    return statistics.mean(r[key] for r in runs)

                print(f"{interval:8.3f}  {hold:4.1f}  {statistics.mean(errors):+8.1f} / {worst:+6.1f}"
                      f"     {mean('client_uncertainty') * 1000:8.1f}"
                      f"      {mean('gap_median') * 1000:6.1f} / {max(r['gap_max'] for r in runs) * 1000:6.1f}"
                      f"       {mean('query_mean') * 1000:5.2f} / {max(r['query_max'] for r in runs) * 1000:6.2f}"
                      f"     {mean('qps'):7.1f}   {mean('client_cpu') * 100:5.1f} / {mean('server_cpu') * 100:5.1f}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{dbname}" with (force)')
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
