"""``python -m pgwarden`` and the ``pgwarden`` executable: the command line in a process of its own.

:func:`run` is :func:`pgwarden.cli.main.main` for a process that ends when the command returns,
so it skips two walks of Python's cycle collector that find nothing worth it: while pgwarden's
modules load (tens of thousands of objects, no garbage), and at the exit, which would walk every
object still alive once more (6% of a one-file plan's CPU). pgwarden closes what it opens itself
(files, connections, children) rather than leaving it to the collector. Tests call
:func:`~pgwarden.cli.main.main` in-process instead and keep the collector.
"""

from __future__ import annotations

import gc

from pgwarden.gcpause import cyclic_gc_paused


def run() -> int:
    """Run the command line, then freeze what is left so the interpreter's exit does not collect it."""
    with cyclic_gc_paused():
        from pgwarden.cli.main import main
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(run())
