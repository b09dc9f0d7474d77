"""drop-database: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "drop-database"
OK: list[str | tuple[str, ...]] = [
    'DROP TABLE x;',
    'CREATE DATABASE x;',
]
ERR: list[str | tuple[str, ...]] = [
    'DROP DATABASE app;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
