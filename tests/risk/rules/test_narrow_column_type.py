"""narrow-column-type: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "narrow-column-type"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name varchar(100));\n'
        'ALTER TABLE t ALTER COLUMN name TYPE varchar(10);'
    ),
    'ALTER TABLE users ALTER COLUMN name TYPE varchar(10);',
    (
        'ALTER TABLE users ADD COLUMN code varchar(10);',
        'ALTER TABLE users ALTER COLUMN code TYPE varchar(20);',
    ),
]
ERR: list[str | tuple[str, ...]] = [
    (
        'ALTER TABLE users ADD COLUMN code varchar(20);',
        'ALTER TABLE users ALTER COLUMN code TYPE varchar(5);',
    ),
    (
        'ALTER TABLE users ADD COLUMN n bigint;',
        'ALTER TABLE users ALTER COLUMN n TYPE integer;',
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
