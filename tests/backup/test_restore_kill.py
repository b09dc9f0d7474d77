"""A killed in-place restore changes nothing, or restores everything: never half (issue 13, item 1).

pg_restore's output is paced (``tests/backup/pacer.py`` stands in for pg_restore and sleeps at every
statement end and every 500 COPY rows), and ``pgwarden restore --confirm`` (the real CLI, a child
process) is SIGKILLed at chosen points: early in the schema, inside a COPY, half-way, late, and after
pg_restore's last line while it has not exited yet. Afterwards the database is exactly its old state
(an md5 over every row of every table, the sequences, the large objects and the relations: a
killed pgwarden never got to its COMMIT, which comes only after pg_restore exited and the rows were
counted), no child of pgwarden is left running, and no session of it is left on the server.

It used to be psql's decision: ``psql --single-transaction`` committed whatever it had read when
pgwarden died and its input ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import zstandard
from psycopg import sql

from pgwarden.children import die_with_parent
from pgwarden.pg import binaries
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.embedded import bin_dir
from pgwarden.pipeline.backup import take_backup
from tests.backup.helpers import create_rich, file_settings, make_shims
from tests.backup.pacer import points

PACER = Path(__file__).with_name("pacer.py")
# After the backup: a table depending on a backed-up one, a new column, then damage.
DEPLOY_AND_DAMAGE = """
create table loyalty_points (customer_id bigint primary key references customers(id), points int not null);
insert into loyalty_points select id, id * 10 from customers where id <= 100;
alter table customers add column tier text;
create index customers_created_idx on customers (created_at);
delete from billing.invoices where id > 10;
update customers set mood = 'sad';
"""


# Many small tables, each with an index and a foreign key: a post-data section of many statements, as
# in the issue's ~125-table database (psql used to commit whatever complete statements it had read).
MANY_TABLES = """
do $$ begin for i in 1..40 loop
  execute format('create table part_%s (id int primary key, customer_id bigint references customers(id), '
                 'note text not null)', i);
  execute format('create index part_%s_note_idx on part_%s (note)', i, i);
  execute format('insert into part_%s select g, 1 + g %% 3000, repeat(''n'', g %% 40) '
                 'from generate_series(1, 30) g', i);
end loop; end $$;
"""


def state(url: str) -> dict[str, Any]:
    """Everything a user would compare: every row of every table, sequences, large objects, relations."""
    with psycopg.connect(url, autocommit=True) as conn:
        relations = conn.execute(
            "select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') order by 1, 2").fetchall()
        rows: dict[str, Any] = {}
        for schema, name, kind in relations:
            ident = sql.Identifier(schema, name)
            if kind == "r":
                rows[f"{schema}.{name}"] = conn.execute(sql.SQL(
                    "select count(*), md5(coalesce(string_agg(r::text, ',' order by r::text), '')) from {} r"
                ).format(ident)).fetchone()
            elif kind == "S":
                rows[f"{schema}.{name}"] = conn.execute(sql.SQL("select last_value, is_called from {}")
                                                        .format(ident)).fetchone()
        los = conn.execute("select count(*), md5(coalesce(string_agg(encode(lo_get(oid), 'hex'), ',' "
                           "order by oid), '')) from pg_largeobject_metadata").fetchone()
    return {"relations": relations, "rows": rows, "large objects": los}


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper does nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout}s: {what}")
        time.sleep(0.05)


def _sessions(db) -> int:  # type: ignore[no-untyped-def]
    with db.server.admin() as conn:
        row = conn.execute("select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                           (db.name,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(autouse=True)
def _fresh_binary_cache() -> None:
    binaries._probe.cache_clear()


class Scenario:
    """A database with a backup, then a deploy and damage; the restore runs paced through the CLI."""

    def __init__(self, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.tmp = tmp_path
        with db.connect() as conn:
            create_rich(conn)
            conn.execute(MANY_TABLES)
        self.backup_state = state(db.url)
        settings = file_settings(tmp_path)
        self.manifest = take_backup(settings, DatabaseTarget.from_url(db.url))
        with db.connect() as conn:
            conn.execute(DEPLOY_AND_DAMAGE)
        self.old_state = state(db.url)
        assert self.old_state != self.backup_state
        (tmp_path / "pgwarden.yml").write_text("backup:\n  store: file://./backups\n")
        self.progress = tmp_path / "progress"
        self.pids = tmp_path / "pids"
        shims = make_shims(tmp_path / "bin", tmp_path / "argv.log", {
            "pg_restore": f'case " $* " in *" --file=- "*) exec "{sys.executable}" "{PACER}" "$REAL" "$@";; esac\n'
                          'exec "$REAL" "$@"',
        })
        self.env = {**os.environ, "DATABASE_URL": db.url, "PGWARDEN_PG_BIN": str(shims),
                    "PACER_PROGRESS": str(self.progress), "PACER_PIDS": str(self.pids), "PACER_DELAY": "0.004",
                    "PACER_LINGER": "30"}

    def script_points(self) -> list[str]:
        """The kinds of the points pg_restore's script for this backup has, in order."""
        archive = self.tmp / "archive.dump"
        stored = next((self.tmp / "backups").rglob("*.zst"))
        with open(stored, "rb") as source, open(archive, "wb") as out:
            zstandard.ZstdDecompressor().copy_stream(source, out)
        real = bin_dir()
        assert real is not None
        script = subprocess.run([str(real / "pg_restore"), "--file=-", "--single-transaction", "--clean",
                                 "--if-exists", str(archive)], capture_output=True, check=True).stdout
        return [kind for _, kind in points(script.splitlines(keepends=True)) if kind is not None]

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "pgwarden", "restore", "--backup-id", self.manifest.id, "--confirm", self.db.name],
            cwd=self.tmp, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def reached(self, point: int | None) -> bool:
        try:
            text = self.progress.read_text()
        except FileNotFoundError:
            return False
        if point is None:
            return text.startswith("done")
        return text.startswith("done") or (text.strip().isdigit() and int(text) >= point)

    def child_pids(self) -> list[int]:
        return [int(p) for line in self.pids.read_text().split("\n") for p in line.split()]

    def assert_nothing_left(self) -> None:
        # Killed with pgwarden, at once: a pg_restore that outlived it could still be written to a
        # session that commits (the pacer sleeps 30 s after its last line when nobody kills it).
        _wait_for(lambda: not any(_alive(pid) for pid in self.child_pids()), 5, "pgwarden's children to end")
        _wait_for(lambda: _sessions(self.db) == 0, 20, "pgwarden's session to end (rolled back)")


KILL_POINTS = ["early", "in-copy", "half", "late", "after-the-last-line"]


@pytest.mark.parametrize("where", KILL_POINTS)
def test_killed_restore_is_the_old_state_or_exactly_the_backup(db, tmp_path: Path, where: str) -> None:
    scenario = Scenario(db, tmp_path)
    kinds = scenario.script_points()
    at: int | None = {
        "early": 3,
        "in-copy": kinds.index("rows") + 1,
        "half": len(kinds) // 2,
        "late": len(kinds) - 5,
        "after-the-last-line": None,
    }[where]
    proc = scenario.start()
    try:
        _wait_for(lambda: scenario.reached(at) or proc.poll() is not None, 60, f"the restore to reach {where}")
        assert proc.poll() is None, proc.communicate()
        if at is None:
            time.sleep(0.3)  # pgwarden has read everything; pg_restore has not exited yet
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    scenario.assert_nothing_left()
    after = state(db.url)
    assert after == scenario.old_state, f"killed {where}: the database is neither its old state nor the backup"


def test_a_killed_pg_restore_fails_the_restore_and_changes_nothing(db, tmp_path: Path) -> None:
    """pg_restore SIGKILLed half-way: exit 1, said plainly, no traceback, the database as it was."""
    scenario = Scenario(db, tmp_path)
    scenario.env["PACER_LINGER"] = "0"  # the pacer passes pg_restore's death on at once
    half = len(scenario.script_points()) // 2
    proc = scenario.start()
    _wait_for(lambda: scenario.reached(half) or proc.poll() is not None, 60, "the restore to get half-way")
    _pacer, real = scenario.child_pids()[:2]
    os.kill(real, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert "pg_restore could not render the archive" in err
    assert "nothing was changed" in err
    assert "Traceback" not in out + err
    scenario.assert_nothing_left()
    assert state(db.url) == scenario.old_state


def test_a_terminated_restore_session_fails_the_restore_and_changes_nothing(db, tmp_path: Path) -> None:
    """pg_terminate_backend of the restoring session half-way: exit 1, no traceback, the database as it was."""
    scenario = Scenario(db, tmp_path)
    half = len(scenario.script_points()) // 2
    proc = scenario.start()
    _wait_for(lambda: scenario.reached(half) or proc.poll() is not None, 60, "the restore to get half-way")
    with db.server.admin() as conn:
        killed = conn.execute("select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
                              "where datname = %s and application_name = 'pgwarden') t", (db.name,)).fetchone()
    assert killed == (1,)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert "nothing was changed" in err
    assert "Traceback" not in out + err
    scenario.assert_nothing_left()
    assert state(db.url) == scenario.old_state


def test_unpaced_restore_through_the_cli_is_exactly_the_backup(db, tmp_path: Path) -> None:
    """The same scenario without a kill: the backup's state exactly (the comparison above can tell)."""
    scenario = Scenario(db, tmp_path)
    scenario.env["PACER_DELAY"] = "0"
    scenario.env["PACER_LINGER"] = "0"
    proc = scenario.start()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert state(db.url) == scenario.backup_state


def test_children_die_with_their_parent(tmp_path: Path) -> None:
    """die_with_parent(): a SIGKILLed parent takes its child with it (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    assert die_with_parent(), "prctl not found: children would outlive pgwarden"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "from pgwarden.children import die_with_parent\n"
        "child = subprocess.Popen(['sleep', '60'], **die_with_parent())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.stdout.close()
    assert _alive(child)
    parent.kill()
    parent.wait()
    _wait_for(lambda: not _alive(child), 5, "the child to die with its parent")
