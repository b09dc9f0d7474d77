"""rename-column: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "rename-column"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t RENAME COLUMN a TO b;'
    ),
    (
        'ALTER TABLE users ADD COLUMN tmp int;\n'
        'ALTER TABLE users RENAME COLUMN tmp TO score;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users RENAME COLUMN name TO full_name;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
