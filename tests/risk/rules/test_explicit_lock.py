"""explicit-lock: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "explicit-lock"
OK: list[str | tuple[str, ...]] = [
    'LOCK TABLE users IN ROW EXCLUSIVE MODE;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'LOCK TABLE t;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'LOCK TABLE users;',
    'LOCK TABLE users IN SHARE MODE;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
