"""delete-without-where: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "delete-without-where"
OK: list[str | tuple[str, ...]] = [
    "DELETE FROM users WHERE created_at < now() - interval '1 year';",
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'DELETE FROM t;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'DELETE FROM users;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
