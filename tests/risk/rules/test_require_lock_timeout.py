"""require-lock-timeout: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-lock-timeout"
OK: list[str | tuple[str, ...]] = [
    (
        "SET lock_timeout = '5s';\n"
        'ALTER TABLE users ADD COLUMN a int;'
    ),
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ADD COLUMN b int;'
    ),
    'CREATE INDEX CONCURRENTLY i ON users (a);',
    (
        "SELECT set_config('lock_timeout', '3s', false);\n"
        'DROP INDEX i;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    (
        'ALTER TABLE users ADD COLUMN a int;\n'
        'ALTER TABLE users ADD COLUMN b int;'
    ),
    (
        'SET lock_timeout = 0;\n'
        'DROP INDEX i;'
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
