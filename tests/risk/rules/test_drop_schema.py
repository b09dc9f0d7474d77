"""drop-schema: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "drop-schema"
OK: list[str | tuple[str, ...]] = [
    'DROP TABLE users;',
    'CREATE SCHEMA s;',
]
ERR: list[str | tuple[str, ...]] = [
    'DROP SCHEMA legacy CASCADE;',
    'DROP SCHEMA legacy;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
