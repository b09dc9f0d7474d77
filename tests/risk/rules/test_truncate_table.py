"""truncate-table: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "truncate-table"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'TRUNCATE t;'
    ),
    'DELETE FROM users WHERE id = 1;',
]
ERR: list[str | tuple[str, ...]] = [
    'TRUNCATE users;',
    'TRUNCATE TABLE users, orders CASCADE;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
