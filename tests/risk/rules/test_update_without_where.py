"""update-without-where: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "update-without-where"
OK: list[str | tuple[str, ...]] = [
    'UPDATE users SET a = 1 WHERE a IS NULL;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'UPDATE t SET a = 0;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'UPDATE users SET a = 0;',
    # A backfill of a column added just before: no data loss, only the write of every row (low).
    (
        'ALTER TABLE users ADD COLUMN slug text;\n'
        'UPDATE users SET slug = lower(name);'
    ),
    # One of the columns existed: its values are overwritten.
    (
        'ALTER TABLE users ADD COLUMN slug text;\n'
        'UPDATE users SET slug = lower(name), name = upper(name);'
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
