"""The checks that ``verify``, ``restore`` and ``drill`` share, each decided in one place.

- :func:`run_sql_check`: one ``verify.checks`` entry, the same for ``verify`` (on the deployed or
  restored database) and ``drill`` (on its scratch copy): read-only, time-limited, one rule for
  what passes.
- :class:`RecoveryClock`: the one span a restore is measured by against ``restore.rto``.

Row counts have their own module, :mod:`pgwarden.pipeline.rowcounts`.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql as pgsql

from pgwarden.config import VerifyCheck
from pgwarden.durations import format_duration
from pgwarden.records import Check
from pgwarden.redact import redact

#: ``statement_timeout`` of a custom check: it runs against production, next to live traffic.
CHECK_TIMEOUT = "30s"

_TRUE_TEXT = ("t", "true", "yes", "on", "1")


def is_true(value: Any) -> bool:
    """The truthiness of a check's value: SQL ``true``, a non-zero number, or text that reads as
    true (``t``, ``true``, ``yes``, ``on``, ``1``, in any case). NULL, no row and anything else fail."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    if isinstance(value, bool):
        return value
    return isinstance(value, (int, float, Decimal)) and value != 0


def equals_expected(value: Any, expect: str) -> bool:
    """``expect`` matches when the value is the same text, the same number (``5000`` and
    ``5000.0``), or for a boolean value, when ``expect`` reads as that boolean."""
    if str(value) == expect:
        return True
    try:
        return float(str(value)) == float(expect)
    except ValueError:
        return isinstance(value, bool) and is_true(expect) == value


def run_sql_check(conn: psycopg.Connection[Any], check: VerifyCheck) -> Check:
    """Run one ``verify.checks`` query and judge the first column of its first row.

    The query runs in a read-only transaction (a check that writes is refused by the server)
    under :data:`CHECK_TIMEOUT`. Without ``expect`` the value must be true (:func:`is_true`);
    with it, equal to it (:func:`equals_expected`). A query that fails fails the check.
    """
    try:
        with conn.transaction():
            conn.execute("set transaction read only")
            conn.execute(pgsql.SQL("set local statement_timeout = {}").format(pgsql.Literal(CHECK_TIMEOUT)))
            row = conn.execute(check.sql).fetchone()  # user SQL from the config
    except psycopg.Error as exc:
        return Check(check.name, False, f"query failed: {redact(str(exc).strip())}")
    value = row[0] if row else None
    if check.expect is None:
        return Check(check.name, is_true(value), f"returned {value!r}, expected true")
    return Check(check.name, equals_expected(value, check.expect), f"returned {value!r}, expected {check.expect!r}")


#: The name of the RTO check, for restore and drill alike.
WITHIN_RTO = "within the recovery time objective"


class RecoveryClock:
    """The one span a restore is measured by against ``restore.rto``.

    It starts with the step, before the store is opened and the backup found, and stops when the
    restored rows have been counted against the manifest: finding the backup, reading and
    checking every file, loading it, proving the rows are all there. That is the time until a
    responder has the data back. Not in it: the ``ANALYZE`` afterwards (the database is usable
    without it, and the drill skips it), the drill's ``verify.checks`` and the dropping of its
    scratch copy. A snapshot restore stops when the new instance is available.
    """

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._seconds: float | None = None

    def stop(self) -> float:
        """Stop the clock (the first call counts) and return the span."""
        if self._seconds is None:
            self._seconds = time.monotonic() - self._started
        return self._seconds

    @property
    def seconds(self) -> float:
        """The span: up to :meth:`stop`, or up to now while the clock runs."""
        return self._seconds if self._seconds is not None else time.monotonic() - self._started

    def within(self, rto: float) -> bool:
        return self.seconds <= rto

    def check(self, rto: float) -> Check:
        """The RTO check: a warning when over (the restore itself stands)."""
        return Check(WITHIN_RTO, ok=self.within(rto), warning=True,
                     detail=f"{format_duration(self.seconds)} against restore.rto {format_duration(rto)}")
