"""require-unique-using-index: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-unique-using-index"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email);\n'
        'ALTER TABLE users ADD CONSTRAINT users_email UNIQUE USING INDEX users_email;'
    ),
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ADD CONSTRAINT t_name UNIQUE (name);'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD CONSTRAINT users_email UNIQUE (email);',
    'ALTER TABLE users ADD PRIMARY KEY (id);',
    'ALTER TABLE users ADD COLUMN code text UNIQUE;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
