"""change-column-type: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "change-column-type"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ALTER COLUMN a TYPE bigint;'
    ),
    (
        'ALTER TABLE users ADD COLUMN code varchar(10);',
        'ALTER TABLE users ALTER COLUMN code TYPE varchar(20);',
    ),
    (
        'ALTER TABLE users ADD COLUMN code varchar(10);',
        'ALTER TABLE users ALTER COLUMN code TYPE text;',
    ),
    (
        'ALTER TABLE users ADD COLUMN price numeric(10,2);',
        'ALTER TABLE users ALTER COLUMN price TYPE numeric(14,2);',
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ALTER COLUMN id TYPE bigint;',
    'ALTER TABLE users ALTER COLUMN name TYPE text;',
    (
        'ALTER TABLE users ADD COLUMN n integer;',
        'ALTER TABLE users ALTER COLUMN n TYPE bigint;',
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
