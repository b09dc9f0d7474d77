"""drop-column: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "drop-column"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t DROP COLUMN a;'
    ),
    (
        'ALTER TABLE users ADD COLUMN tmp int;\n'
        'ALTER TABLE users DROP COLUMN tmp;'
    ),
    'ALTER TABLE users DROP CONSTRAINT c;',
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users DROP COLUMN name;',
    'ALTER TABLE app.users DROP COLUMN IF EXISTS legacy, ADD COLUMN x int;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
