"""vacuum-full: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "vacuum-full"
OK: list[str | tuple[str, ...]] = [
    'VACUUM users;',
    'VACUUM (ANALYZE) users;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'VACUUM FULL t;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'VACUUM FULL users;',
    'VACUUM (FULL, ANALYZE);',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
