"""require-concurrent-reindex: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-concurrent-reindex"
OK: list[str | tuple[str, ...]] = [
    'REINDEX INDEX CONCURRENTLY users_email;',
    'REINDEX (CONCURRENTLY) TABLE users;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'REINDEX TABLE t;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'REINDEX INDEX users_email;',
    'REINDEX TABLE users;',
    'REINDEX DATABASE app;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
