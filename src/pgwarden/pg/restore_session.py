"""What both restore paths share: the bulk-load session settings, psql sessions, the result.

A restore runs either in one transaction on a connection of pgwarden's own
(:mod:`pgwarden.pg.restore_atomic`) or, into a new database, over several sessions at once
(:mod:`pgwarden.pg.restore_parallel`, whose non-COPY part of the data section goes through one
psql session, started here: ``ON_ERROR_STOP``, fed through its stdin, its ``COPY n`` command tags
read back, killed with pgwarden). The restoring sessions get ``PGOPTIONS`` (or the connection's
``options``) that make bulk loading cheaper (no synchronous commit wait, big maintenance_work_mem
for index builds), and both return a :class:`RestoreRun`. The password travels in ``PGPASSWORD``.

Both report the rows each table received from the ``COPY n`` command tags (the server's own
count, exact), which the caller compares with the manifest instead of running ``count(*)`` again.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pgwarden.children import die_with_parent
from pgwarden.pg.archive import LineReader, Tail, close_quietly, widen_pipe
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.dump import STATISTICS_MAJOR

RESTORE_SESSION_OPTIONS = (
    "-c synchronous_commit=off -c maintenance_work_mem=512MB -c work_mem=64MB "
    "-c max_parallel_maintenance_workers=2"
)
_COPY_TAG = re.compile(rb"^COPY (\d+)\n?$")


def statistics_args(pg_restore: ClientProgram, server_major: int | None) -> list[str]:
    """``--no-statistics`` where the server cannot take back the statistics a backup carries.

    A pg_dump 18 backup with ``--statistics`` restores them with functions PostgreSQL 17 and older
    do not have; the restore leaves them out there (and analyzes instead). pg_restore before 18
    neither knows the option nor can read such an archive.
    """
    if server_major is None or server_major >= STATISTICS_MAJOR or pg_restore.major < STATISTICS_MAJOR:
        return []
    return ["--no-statistics"]


def session_env(target: DatabaseTarget) -> dict[str, str]:
    """The environment of a restoring child program: the target's, plus the bulk-load options."""
    env = target.child_env()
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " " + RESTORE_SESSION_OPTIONS).strip()
    return env


@dataclass
class RestoreRun:
    method: str
    dropped_settings: list[str] = field(default_factory=list)
    #: rows each table received, from the server's own ``COPY n`` command tags (exact, summed over
    #: sessions); None when they could not be matched to tables (then the caller counts)
    loaded_rows: dict[str, int] | None = None


class CopyTags(LineReader):
    """Reads psql's standard output in a thread and keeps the ``COPY n`` command tags, in order.

    psql (not ``--quiet``) prints one tag per statement; result rows of the few SELECTs in a
    script (``setval``, ``set_config``) are printed aligned, i.e. behind a space, so a line that
    is exactly ``COPY n`` is a tag.
    """

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.counts: list[int] = []
        super().__init__(stream)

    def take(self, raw: bytes) -> None:
        match = _COPY_TAG.match(raw)
        if match:
            self.counts.append(int(match.group(1)))

    def result(self) -> list[int]:
        self.thread.join(timeout=10)
        return self.counts


class PsqlSession:
    """One ``psql -v ON_ERROR_STOP=1`` session fed through its stdin, with the bulk-load settings.

    ``copies`` lists the table of every COPY sent to it, in order, so its command tags can be
    matched to tables afterwards.
    """

    def __init__(self, psql: Path, target: DatabaseTarget, *, single_transaction: bool) -> None:
        args = [str(psql), f"--dbname={target.child_dbname_arg()}", "--no-psqlrc", "--no-password",
                "--set=ON_ERROR_STOP=1"] + (["--single-transaction"] if single_transaction else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=session_env(target), **die_with_parent())
        assert self.proc.stdin is not None
        self.stdin: IO[bytes] = self.proc.stdin
        widen_pipe(self.stdin)
        self.tail = Tail(self.proc.stderr)
        self.tags = CopyTags(self.proc.stdout)
        self.copies: list[str] = []

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        close_quietly(self.stdin)

    def finish(self) -> int:
        close_quietly(self.stdin)
        return self.proc.wait()


