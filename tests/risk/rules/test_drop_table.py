"""drop-table: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "drop-table"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id int);\n'
        'DROP TABLE t;'
    ),
    (
        'CREATE TABLE t (id int);',
        'DROP TABLE t;',
    ),
    'DROP VIEW v;',
    'DROP INDEX CONCURRENTLY i;',
]
ERR: list[str | tuple[str, ...]] = [
    'DROP TABLE users;',
    'DROP TABLE IF EXISTS public.users, orders CASCADE;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
