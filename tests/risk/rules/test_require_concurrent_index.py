"""require-concurrent-index: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-concurrent-index"
OK: list[str | tuple[str, ...]] = [
    'CREATE INDEX CONCURRENTLY users_email ON users (email);',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'CREATE INDEX t_a ON t (a);'
    ),
    (
        'CREATE TABLE t (id int);',
        'CREATE UNIQUE INDEX t_id ON t (id);',
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'CREATE INDEX users_email ON users (email);',
    'CREATE UNIQUE INDEX ON app.users (lower(email));',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
