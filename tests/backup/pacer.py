"""A pg_restore that takes its time: runs the real one and paces its SQL output (a test tool).

    python pacer.py REAL_PG_RESTORE ARGS...

Every statement end (a line ending in ``;``), every 500 COPY rows and every COPY end is a *point*:
the output is flushed, the number of points so far is written to ``$PACER_PROGRESS`` and the pacer
sleeps ``$PACER_DELAY`` seconds. After the last line it writes ``done``, keeps its output open for
``$PACER_LINGER`` seconds, then exits with pg_restore's status. Its own pid and pg_restore's are
appended to ``$PACER_PIDS``, so a test can kill them or check that they are gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator

ROWS_PER_POINT = 500


def points(lines: Iterable[bytes]) -> Iterator[tuple[bytes, str | None]]:
    """Each line, with the kind of point it ends (``statement``, ``rows``, ``copy-end``) or None."""
    in_copy = False
    rows = 0
    for line in lines:
        if in_copy:
            if line == b"\\.\n":
                in_copy = False
                yield line, "copy-end"
                continue
            rows += 1
            yield line, "rows" if rows % ROWS_PER_POINT == 0 else None
        elif line.startswith(b"COPY ") and line.endswith(b" FROM stdin;\n"):
            in_copy, rows = True, 0
            yield line, None
        else:
            yield line, "statement" if line.rstrip().endswith(b";") else None


def main() -> int:
    delay = float(os.environ.get("PACER_DELAY", "0.01"))
    linger = float(os.environ.get("PACER_LINGER", "0"))
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
    with open(os.environ["PACER_PIDS"], "a") as pids:
        pids.write(f"{os.getpid()} {child.pid}\n")
    assert child.stdout is not None
    out = sys.stdout.buffer
    count = 0
    with open(os.environ["PACER_PROGRESS"], "w") as progress:
        for line, point in points(child.stdout):
            out.write(line)
            if point is None:
                continue
            out.flush()
            count += 1
            progress.seek(0)
            progress.write(f"{count:09d}")
            progress.flush()
            time.sleep(delay)
        out.flush()
        progress.seek(0)
        progress.write("done     ")
        progress.flush()
    time.sleep(linger)
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    raise SystemExit(main())
