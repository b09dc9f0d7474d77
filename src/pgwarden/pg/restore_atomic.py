"""The atomic restore: the whole archive in one transaction through psql.

Every in-place restore goes this way, and so does any restore into an older server than the
pg_dump that wrote the archive: the archive is rendered as SQL (``pg_restore -f -
--single-transaction``), ``SET`` lines for settings the target server does not have are dropped
(pg_dump 17+ writes ``SET transaction_timeout = 0;`` which PostgreSQL 15 rejects; the list comes
from the target's own ``pg_settings``), an optional prelude is put first (the in-place restore
empties the backup's schemas with it), the tables the script creates load with ``COPY ...
FREEZE``, and all of it runs in ``psql -v ON_ERROR_STOP=1 --single-transaction``: any error rolls
everything back, and the COMMIT happens only once pg_restore has exited cleanly.

Reading the archive is :mod:`pgwarden.pg.archive`; reading the SQL script pg_restore renders from
it is :mod:`pgwarden.pg.script`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pgwarden.errors import OperationFailed
from pgwarden.pg.archive import Feeder, Tail, close_quietly, widen_pipe
from pgwarden.pg.binaries import ClientProgram
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pg.restore_session import PsqlSession, RestoreRun
from pgwarden.pg.script import FreezeTracker, copy_table, script_events, setting_name

#: How every failure of a single-transaction restore ends, said plainly for the responder.
ROLLED_BACK = "nothing was changed: the restore ran in one transaction and was rolled back"


def _loaded_rows(sessions: list[PsqlSession]) -> dict[str, int] | None:
    """Rows per table from the sessions' COPY tags; None unless every COPY has its tag."""
    loaded: dict[str, int] = {}
    for session in sessions:
        counts = session.tags.result()
        if len(counts) != len(session.copies):
            return None
        for table, count in zip(session.copies, counts, strict=True):
            loaded[table] = loaded.get(table, 0) + count
    return loaded


def restore_filtered(
    pg_restore: ClientProgram,
    psql: Path,
    target: DatabaseTarget,
    archive: Path,
    *,
    known_settings: set[str],
    clean: bool,
    compressed: bool = False,
    prelude: bytes = b"",
    freeze: bool = True,
) -> RestoreRun:
    """Archive -> SQL -> drop SETs of settings the server lacks -> psql, in one transaction.

    ``prelude`` is SQL sent first, in the same transaction (the in-place restore empties the
    backup's schemas with it), so a failure anywhere later rolls it back too. ``freeze`` loads the
    tables the script creates with ``COPY ... FREEZE`` (see ``pgwarden.pg.script.FreezeTracker``).
    """
    # --single-transaction makes pg_restore write one BEGIN ... COMMIT around everything; without
    # it, the script has its own BEGIN/COMMIT around large objects, and that COMMIT would end
    # psql's transaction half-way, leaving the rest to autocommit.
    render = [str(pg_restore.path), "--file=-", "--single-transaction"]
    if clean:
        render += ["--clean", "--if-exists"]
    if not compressed:
        render.append(str(archive))
    producer = subprocess.Popen(render, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    widen_pipe(producer.stdout)
    feeder = Feeder(archive, producer.stdin) if compressed else None
    session = PsqlSession(psql, target, single_transaction=True)
    consumer = session.proc
    producer_tail = Tail(producer.stderr)
    dropped: list[str] = []
    assert producer.stdout is not None
    write = session.stdin.write
    psql_stopped = False
    # pg_restore's final COMMIT is held back until its exit status is known: a COMMIT inside a
    # routine body is followed by more SQL and goes through; the real one is dropped at the end
    # and psql --single-transaction commits only once we let it reach end of input.
    held_commit = False
    frozen = FreezeTracker() if freeze else None
    try:
        if prelude:
            write(prelude)
        for kind, data in script_events(producer.stdout):
            if kind == "rows" or kind == "end":
                write(data)
                continue
            if held_commit and not (data == b"\n" or data.startswith((b"--", b"\\unrestrict "))):
                write(b"COMMIT;\n")
                held_commit = False
            if kind == "copy":
                session.copies.append(copy_table(data))
                if frozen is not None:
                    data = frozen.header(data, session.copies[-1])
            elif data == b"COMMIT;\n":
                held_commit = True
                continue
            elif data.startswith((b"SET ", b"SELECT pg_catalog.set_config(")):
                name = setting_name(data)
                if name is not None and name not in known_settings:
                    if name not in dropped:
                        dropped.append(name)
                    continue
            elif frozen is not None:
                frozen.see(data)
            write(data)
    except BrokenPipeError:
        psql_stopped = True  # psql stopped on an error: reported below
    except BaseException:
        producer.kill()
        producer.wait()
        session.kill()
        raise
    finally:
        producer.stdout.close()
    if psql_stopped:
        close_quietly(session.stdin)
        producer.kill()
        producer.wait()
        consumer_rc = consumer.wait()
        raise OperationFailed(
            f"the restore failed; {ROLLED_BACK} (psql exit {consumer_rc}):\n"
            f"{session.tail.text() or '(no error output)'}"
        )
    # A failed render must never reach psql as end-of-input: that would COMMIT half a restore.
    # Killing psql instead drops its connection, and the server rolls the transaction back.
    producer_rc = producer.wait()
    if feeder is not None:
        feeder.join()
        if feeder.error:
            producer_rc = producer_rc or 1
    if producer_rc != 0:
        session.kill()
        raise OperationFailed(f"pg_restore could not render the archive (exit {producer_rc}); {ROLLED_BACK}:"
                              f"\n{producer_tail.text()}")
    consumer_rc = session.finish()
    if consumer_rc != 0:
        raise OperationFailed(
            f"the restore failed; {ROLLED_BACK} (psql exit {consumer_rc}):\n"
            f"{session.tail.text() or '(no error output)'}"
        )
    return RestoreRun("pg_restore | psql --single-transaction (settings unknown to this server dropped"
                      + (f"; {frozen.count} of {len(session.copies)} tables loaded with COPY FREEZE)"
                         if frozen is not None else "; without COPY FREEZE)"),
                      dropped, _loaded_rows([session]))
