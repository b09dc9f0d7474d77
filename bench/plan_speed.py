"""Benchmark: time the risk review of generated migrations, next to squawk on the same files.

    python bench/plan_speed.py [--files 1000] [--live-files 200] [--database-url URL]

Generates realistic migration files (a deterministic mix of safe and risky statements), then
times (1) ``review`` statically on all of them, (2) ``review`` with live context on the first
``--live-files`` against a database seeded with the tables they touch (an embedded PostgreSQL
when no URL is given), (3) ``pgwarden plan`` end to end when the CLI is wired, and (4) ``squawk``
on the same files. Goal: static under 2 s for 1,000 files and within 2x of squawk.

It also checks that pglast's trees are the same with and without its per-attribute check
(``pgwarden.risk.trusted``, which the review relies on for speed), down to every field's type.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TABLES = ["users", "orders", "invoices", "events", "accounts", "payments", "sessions", "products"]
SNIPPETS = [
    "ALTER TABLE {t} ADD COLUMN {c} text;",
    "ALTER TABLE {t} ADD COLUMN {c} boolean NOT NULL DEFAULT false;",
    "ALTER TABLE {t} ADD COLUMN {c} timestamptz DEFAULT now();",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_{c}_idx ON {t} (id);",
    "CREATE INDEX {t}_{c}_idx ON {t} (id);",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_fk FOREIGN KEY (id) REFERENCES users (id) NOT VALID;",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_chk CHECK (id > 0);",
    "ALTER TABLE {t} ALTER COLUMN note TYPE text;",
    "ALTER TABLE {t} ALTER COLUMN id TYPE bigint;",
    "ALTER TABLE {t} DROP COLUMN IF EXISTS legacy_{c};",
    "UPDATE {t} SET note = 'x' WHERE id < 100;",
    "CREATE TABLE {t}_{c} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {t}_id bigint NOT NULL "
    "REFERENCES {t} (id), note text, created_at timestamptz NOT NULL DEFAULT now());\n"
    "CREATE INDEX {t}_{c}_fk_idx ON {t}_{c} ({t}_id);",
    "ALTER TABLE {t} ALTER COLUMN note SET NOT NULL;",
    "ALTER TABLE {t} RENAME COLUMN note TO note_{c};",
    "COMMENT ON TABLE {t} IS 'owned by team {c}';",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'kind_{c}') THEN "
    "CREATE TYPE kind_{c} AS ENUM ('a', 'b'); END IF; END $$;",
]


def generate(folder: Path, count: int, seed: int = 7) -> list[Path]:
    """``count`` migration files of 3-10 statements each, the same for a given seed."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        lines = ["-- generated migration", "SET lock_timeout = '5s';"] if rng.random() < 0.3 else []
        for i in range(rng.randint(3, 10)):
            lines.append(rng.choice(SNIPPETS).format(t=rng.choice(TABLES), c=f"c{n}_{i}"))
        path = folder / f"{n:05d}_migration.sql"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def seed_database(conn: Any, rows: int = 5_000) -> None:
    for table in TABLES:
        conn.execute(f"create table if not exists {table} (id bigint primary key, note varchar(200), "
                     "created_at timestamptz default now())")
        conn.execute(f"insert into {table} (id, note) select g, 'n' || g from generate_series(1, {rows}) g "
                     "on conflict do nothing")
        conn.execute(f"analyze {table}")


def migrations_of(paths: list[Path]) -> list[Any]:
    from pgwarden.records import Migration

    return [Migration(name=p.stem, path=str(p), sql=p.read_text(encoding="utf-8")) for p in paths]


def time_review(paths: list[Path], conn: Any = None) -> tuple[float, int]:
    from pgwarden.risk.engine import review

    started = time.perf_counter()
    findings = review(migrations_of(paths), conn=conn)  # reading the files is part of planning
    return time.perf_counter() - started, len(findings)


def check_trusted_parse(paths: list[Path]) -> str:
    """Compare pglast's checked and trusted (unchecked) node building on every file."""
    from pglast import parser

    from pgwarden.risk.trusted import ENABLED, tree_difference, trusted_nodes

    if not ENABLED:
        return "off for this pglast version (checked path, slower)"
    for path in paths:
        sql = path.read_text(encoding="utf-8")
        checked = parser.parse_sql(sql)
        with trusted_nodes():
            trusted = parser.parse_sql(sql)
        diff = tree_difference(checked, trusted)
        if diff:
            raise SystemExit(f"trusted parse differs on {path}: {diff}")
    return f"on, identical trees on all {len(paths)} files"


_REVIEW_IN_FRESH_PROCESS = """
import sys
from pathlib import Path
from pgwarden.records import Migration
from pgwarden.risk.engine import review
paths = [Path(p) for p in sys.stdin.read().split()]
review([Migration(name=p.stem, path=str(p), sql=p.read_text(encoding="utf-8")) for p in paths])
"""


def time_review_process(paths: list[Path]) -> float:
    """Wall time of a fresh Python process that imports pgwarden and reviews the files (like a CLI run)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _REVIEW_IN_FRESH_PROCESS], input="\n".join(map(str, paths)),
                   text=True, check=True)
    return time.perf_counter() - started


def time_squawk(paths: list[Path]) -> tuple[float | None, int]:
    squawk = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    if not Path(squawk).exists():
        return None, 0
    started = time.perf_counter()
    out = subprocess.run([squawk, "--reporter", "json", *map(str, paths)], capture_output=True, text=True,
                         check=False)
    elapsed = time.perf_counter() - started
    try:
        return elapsed, len(json.loads(out.stdout or "[]"))
    except json.JSONDecodeError:
        return elapsed, -1


def time_cli(folder: Path, url: str | None) -> tuple[float | None, str]:
    pgwarden = shutil.which("pgwarden") or str(Path(sys.executable).with_name("pgwarden"))
    args = [pgwarden, "plan", str(folder), "--format", "json", "--fail-on", "never"]
    if url:
        args += ["--database-url", url]
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, check=False, cwd=folder)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["?"])[-1][:120]
    return elapsed, "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description="time pgwarden's risk review next to squawk")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--live-files", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    import psycopg

    with tempfile.TemporaryDirectory(prefix="pgwarden-bench-") as tmp:
        root = Path(tmp)
        paths = generate(root / "migrations", args.files)
        live_paths = paths[: args.live_files]
        statements = sum(p.read_text().count(";") for p in paths)
        print(f"{len(paths)} files, ~{statements} statements")
        print(f"trusted parse: {check_trusted_parse(paths)}")

        process_s = time_review_process(paths)
        time_review(paths[:5])  # warm-up: first-use costs of pglast and the rule modules
        static_s, static_n = time_review(paths)
        squawk_s, squawk_n = time_squawk(paths)
        print(f"static review  {len(paths):5d} files: {static_s:6.3f} s in process ({static_n} findings), "
              f"{process_s:6.3f} s as a fresh process (imports included)")
        if squawk_s is None:
            print("squawk: not installed (pip install squawk-cli)")
        else:
            print(f"squawk         {len(paths):5d} files: {squawk_s:6.3f} s  ({squawk_n} violations)  "
                  f"ratio pgwarden/squawk = {static_s / squawk_s:.2f}x in process, "
                  f"{process_s / squawk_s:.2f}x process to process")

        embedded = None
        url = args.database_url
        if url is None:
            from pgwarden.pg.embedded import start_embedded

            (root / "pg").mkdir()
            embedded = start_embedded(root / "pg")
            url = embedded.url()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                seed_database(conn)
                live_s, live_n = time_review(live_paths, conn=conn)
            live_squawk_s, _ = time_squawk(live_paths)
            print(f"live review    {len(live_paths):5d} files: {live_s:6.3f} s  ({live_n} findings)"
                  + (f"  squawk on same files: {live_squawk_s:.3f} s" if live_squawk_s else ""))
            cli_s, cli_note = time_cli(root / "migrations", None)
            print(f"pgwarden plan  {len(paths):5d} files: "
                  + (f"{cli_s:6.3f} s (static, end to end)" if cli_s is not None else f"n/a ({cli_note})"))
        finally:
            if embedded is not None:
                embedded.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
