"""Child processes that die with pgwarden: ``PR_SET_PDEATHSIG(SIGKILL)`` for every Popen.

A SIGKILLed pgwarden cannot clean up after itself, and a child left running can still change
the database on its own: a psql whose input ends sends COMMIT, a ``pg_restore --dbname`` goes
on restoring into a database pgwarden would have dropped. :func:`die_with_parent` gives the
keyword arguments for :class:`subprocess.Popen` (and ``subprocess.run``) that make the kernel
kill the child when pgwarden dies, whatever the way.

Linux only (``prctl`` through ctypes); elsewhere, or without a usable libc, the arguments are
empty and children outlive pgwarden as before.

The kernel sends the signal when the *thread* that started the child ends, not the process: start
children from a thread that lives at least as long as they do (pgwarden starts them from the main
thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl = getattr(libc, "prctl", None)
    if prctl is None:
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_PRCTL = _load_prctl()


def die_with_parent() -> dict[str, Any]:
    """Popen keyword arguments: the child gets SIGKILL when this process (thread) dies.

    Between the fork and the ``prctl`` the parent may already have died; the child checks that
    its parent is still the one that started it, and kills itself otherwise.
    """
    prctl = _PRCTL
    if prctl is None:
        return {}
    parent = os.getpid()

    def arm() -> None:  # runs in the child, between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return {"preexec_fn": arm}


def run_killing_group(args: Any, *, timeout: float | None = None, **popen: Any) -> subprocess.CompletedProcess[Any]:
    """:func:`subprocess.run` for a child that may start children of its own (a hook's shell, npx).

    The child leads a new process group, and when the run ends early (its timeout, Ctrl-C, the
    SIGTERM pgwarden turns into an interrupt, any error while waiting) the whole group gets
    SIGKILL, not only the child: a shell's background job or the node process npx started would
    otherwise go on running a migration or a hook after pgwarden has stopped. A child that exits
    on its own keeps whatever it deliberately left running. The child also dies with pgwarden
    (:func:`die_with_parent`); a SIGKILLed pgwarden cannot reach its grandchildren.
    """
    popen.setdefault("start_new_session", True)
    with subprocess.Popen(args, **popen, **die_with_parent()) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            exc.output, exc.stderr = proc.communicate()  # what it printed before the timeout
            raise
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
