"""Benchmark: CPU time of pgwarden's plan next to squawk's on the same files.

    python bench/plan_speed.py [--files 1000] [--per-file 100] [--rounds 5] [--instructions]
                               [--live-files 200] [--database-url URL] [--no-live]

Generates realistic migration files (a deterministic mix of safe and risky statements) plus the
588 migrations of the corpus test (tests/corpus/generate.py, as .sql files), then measures CPU
time (user + system of the child processes, ``resource.getrusage``), side by side with squawk:

1. one process over the whole set: ``pgwarden plan FOLDER`` vs ``squawk FILES...``, ``--rounds``
   times each, in turns, the median kept (and, with ``--instructions``, both counted under valgrind's
   callgrind: instructions do not move with the machine's load, seconds do);
2. one fresh process per file (what a PR check that plans a few files pays: start-up dominates);
3. ``pgwarden plan one.sql`` alone, the start-up cost (goal: < 0.25 s of CPU);
4. the review in this process (no start-up), and with live context on ``--live-files`` against a
   database seeded with the tables they touch (an embedded PostgreSQL when no URL is given).

Goals (issue 15): <= 2x squawk's CPU in one process over a large set, < 0.25 s for one file.
squawk: ``pip install squawk-cli`` (found on PATH or next to this Python). On a shared machine the
seconds move from run to run; the ratios, measured in the same run, move much less: take the median
of a few runs (each one-process figure already is a median). Start-up is measured as users pay it,
with bytecode caches: this script compiles pgwarden's sources and the virtualenv's packages first
(``compileall``; an editable install has no .pyc until a run writes one) and runs every child with
``PYTHONDONTWRITEBYTECODE`` removed from its environment (where it is set, each fresh process would
compile every pgwarden module again). Where the time goes: ``python -m cProfile -s tottime -m
pgwarden plan FOLDER --format json > /dev/null`` (or ``py-spy record``, whose sampling does not slow
the small functions down).

It also checks that pglast's trees are the same with and without its per-attribute check
(``pgwarden.risk.trusted``, which the review relies on for speed), down to every field's type.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
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

    started = time.process_time()  # CPU, like the other figures (a live review's server side not included)
    findings = review(migrations_of(paths), conn=conn)  # reading the files is part of planning
    return time.process_time() - started, len(findings)


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


def write_corpus(folder: Path) -> list[Path]:
    """The corpus test's migrations (Prisma, Laravel, Alembic, plain SQL renderings) as .sql files."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.corpus.generate import cases

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, case in enumerate(cases()):
        path = folder / f"{n:05d}_{case.tool}_{case.pattern.name}.sql"
        path.write_text(case.migration.sql or "", encoding="utf-8")
        paths.append(path)
    return paths


#: The children's environment: bytecode caches read and written as on a user's machine.
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def compile_bytecode() -> None:
    """.pyc files for pgwarden's sources and the installed packages, as ``pip install`` leaves them."""
    import pgwarden

    folders = {Path(pgwarden.__file__).resolve().parent, Path(sysconfig.get_paths()["purelib"])}
    for folder in sorted(folders):
        compileall.compile_dir(folder, quiet=2, workers=1)  # quiet: a test file of some package may not compile


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of(commands: list[list[str]], cwd: Path) -> float:
    """CPU seconds (user + system) the commands take, run one after the other as fresh processes."""
    before = children_cpu()
    for command in commands:
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                       env=CHILD_ENV)
    return children_cpu() - before


def executable(name: str) -> str | None:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    return found if Path(found).exists() else None


def pgwarden_plan(*paths: Path) -> list[str]:
    return [sys.executable, "-m", "pgwarden", "plan", "--format", "json", "--fail-on", "never", *map(str, paths)]


def instructions_of(command: list[str], cwd: Path) -> int | None:
    """Instructions the command executes under valgrind (callgrind), which the machine's load does not move."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    proc = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, env=CHILD_ENV)
    counts = [line.rsplit(":", 1)[1].strip().replace(",", "")
              for line in proc.stderr.splitlines() if "Collected" in line]
    return int(counts[-1]) if counts and counts[-1].isdigit() else None


def compare(label: str, paths: list[Path], folder: Path, squawk: str | None, per_file: int, rounds: int,
            instructions: bool) -> float | None:
    """Print pgwarden's and squawk's CPU over ``paths``: one process (the median of ``rounds``, taken in
    turns so a slow spell of the machine meets both), then one process per file.

    Returns squawk's CPU in one process (None without squawk)."""
    ours_runs: list[float] = []
    theirs_runs: list[float] = []
    for _ in range(rounds):
        ours_runs.append(cpu_of([pgwarden_plan(folder)], folder))
        if squawk:
            theirs_runs.append(cpu_of([[squawk, "--reporter", "json", *map(str, paths)]], folder))
    ours = statistics.median(ours_runs)
    theirs = statistics.median(theirs_runs) if theirs_runs else None
    sample = paths[:per_file]
    ours_each = cpu_of([pgwarden_plan(p) for p in sample], folder)
    theirs_each = cpu_of([[squawk, "--reporter", "json", str(p)] for p in sample], folder) if squawk else None
    print(f"{label}: {len(paths)} files")
    ratios = sorted(o / t for o, t in zip(ours_runs, theirs_runs, strict=True) if t)
    print(f"  one process      pgwarden {ours:6.2f} s CPU" + (
        f"   squawk {theirs:6.2f} s   ratio {ours / theirs:4.2f}x (median of {rounds}; round ratios "
        f"{ratios[0]:.2f}-{ratios[-1]:.2f}x)" if theirs and ratios else "   squawk: not installed"))
    print(f"  process per file pgwarden {ours_each:6.2f} s CPU" + (
        f"   squawk {theirs_each:6.2f} s   ratio {ours_each / theirs_each:4.2f}x" if theirs_each else "")
        + f"   ({len(sample)} files, {ours_each / len(sample):.3f} s per pgwarden run)")
    if instructions:
        ours_ir = instructions_of(pgwarden_plan(folder), folder)
        theirs_ir = instructions_of([squawk, "--reporter", "json", *map(str, paths)], folder) if squawk else None
        if ours_ir is None:
            print("  instructions: valgrind not installed (apt-get install valgrind)")
        else:
            print(f"  instructions     pgwarden {ours_ir / 1e6:6.0f}M" + (
                f"   squawk {theirs_ir / 1e6:6.0f}M   ratio {ours_ir / theirs_ir:4.2f}x" if theirs_ir else ""))
    return theirs


def main() -> int:
    parser = argparse.ArgumentParser(description="CPU time of pgwarden's plan next to squawk's")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--per-file", type=int, default=100, help="files run one process each (default: 100)")
    parser.add_argument("--live-files", type=int, default=200)
    parser.add_argument("--database-url")
    parser.add_argument("--no-live", action="store_true", help="skip the live review (no PostgreSQL)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="one-process runs of each tool, taken in turns, the median kept (default: 5)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the one-process runs' instructions under valgrind (stable under load)")
    args = parser.parse_args()
    squawk = executable("squawk")
    compile_bytecode()

    with tempfile.TemporaryDirectory(prefix="pgwarden-bench-") as tmp:
        root = Path(tmp)
        paths = generate(root / "migrations", args.files)
        corpus = write_corpus(root / "corpus")
        statements = sum(p.read_text().count(";") for p in paths)
        print(f"{len(paths)} generated files (~{statements} statements), {len(corpus)} corpus files; "
              f"squawk: {squawk or 'not installed (pip install squawk-cli)'}")
        print(f"trusted parse: {check_trusted_parse(paths + corpus)}")

        one = paths[0]
        runs = 10
        startup = cpu_of([pgwarden_plan(one)] * runs, root) / runs
        squawk_one = cpu_of([[squawk, "--reporter", "json", str(one)]] * runs, root) / runs if squawk else None
        print(f"pgwarden plan one.sql: {startup:.3f} s CPU per fresh process (mean of {runs}; goal < 0.25 s)"
              + (f"   squawk: {squawk_one:.3f} s" if squawk_one is not None else ""))
        squawk_set = compare("generated set", paths, root / "migrations", squawk, args.per_file, args.rounds,
                             args.instructions)
        compare("corpus set", corpus, root / "corpus", squawk, args.per_file, args.rounds, args.instructions)

        time_review(paths[:5])  # warm-up: first-use costs of pglast and the rule modules
        static_s, static_n = time_review(paths)
        # The review alone (no start-up, no JSON document nor its redaction): what the engine costs.
        print(f"review in this process: {len(paths)} files in {static_s:.3f} s CPU ({static_n} findings)"
              + (f"   vs squawk's one process: {static_s / squawk_set:.2f}x" if squawk_set else ""))
        if args.no_live:
            return 0
        import psycopg

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
                live_paths = paths[: args.live_files]
                live_s, live_n = time_review(live_paths, conn=conn)
            print(f"live review in this process: {len(live_paths)} files in {live_s:.3f} s CPU ({live_n} findings)")
        finally:
            if embedded is not None:
                embedded.stop()
    return 0


if __name__ == "__main__":
    os.environ.pop("GITHUB_ACTIONS", None)  # no annotation lines in the timed runs
    raise SystemExit(main())
