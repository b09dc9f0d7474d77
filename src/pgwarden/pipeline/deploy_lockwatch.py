"""While the tool runs, watch the deploy lock's session; when it is lost, stop the tool.

A deploy whose lock session died (``pg_terminate_backend``, a network cut) no longer keeps a
second deploy out. The ``sql`` tool's own migration session holds the migration lock and stops
by itself before its next migration (:func:`pgwarden.pg.deploy_lock.deploy_lock_held`). An
external tool does not know about either lock: :class:`LockWatch` kills the processes the attempt
started (the tool and its children, SIGKILL), so the tool cannot go on to its next migration, and
terminates the migration sessions, so that what they run rolls back now instead of when they notice
their client is gone. Once only, and only while the tool still runs: a later deploy (which waits
for every migration session to be gone) may have started its own tool by then.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import TracebackType

import psycopg

from pgwarden.errors import OperationFailed
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pg.deploy_lock import DeployLock, terminate_migration_sessions
from pgwarden.records import Progress


def _descendants(root: int) -> set[int]:
    """Every process below ``root`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ")".
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class LockWatch:
    """Context manager around one attempt: :attr:`lost` is set once the lock session stopped answering."""

    def __init__(self, lock: DeployLock | None, target: DatabaseTarget, *, stop_tool: bool,
                 say: Progress, poll_s: float = 0.2) -> None:
        self.lock, self.target, self.stop_tool, self.say, self.poll_s = lock, target, stop_tool, say, poll_s
        self.lost = False
        self._done = threading.Event()
        self._before: set[int] = set()
        self._thread = threading.Thread(target=self._watch, name="pgwarden-lock-watch", daemon=True)

    def __enter__(self) -> LockWatch:
        if self.lock is not None:
            self._before = _descendants(os.getpid())
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        assert self.lock is not None
        while not self._done.wait(self.poll_s):
            if self.lock.alive():
                continue
            self.lost = True
            self.say("the deploy lock's session is gone: stopping the migration tool, nothing more will start")
            if self.stop_tool:
                self._stop_the_tool()
            return

    def _stop_the_tool(self) -> None:
        started = _descendants(os.getpid()) - self._before
        if not started:
            return  # the tool has ended: its sessions are gone, any left is another deploy's
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # already gone
        try:
            with connection(self.target) as conn:
                terminate_migration_sessions(conn)
        except (OperationFailed, psycopg.Error):
            pass  # the server is unreachable: the tool cannot migrate anything either
