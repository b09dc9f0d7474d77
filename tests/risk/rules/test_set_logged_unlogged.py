"""set-logged-unlogged: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "set-logged-unlogged"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t SET UNLOGGED;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users SET LOGGED;',
    'ALTER TABLE events SET UNLOGGED;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
