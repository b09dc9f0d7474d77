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
