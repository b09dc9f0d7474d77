"""rename-table: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "rename-table"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t RENAME TO t2;'
    ),
    'ALTER TABLE users RENAME COLUMN a TO b;',
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users RENAME TO people;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
