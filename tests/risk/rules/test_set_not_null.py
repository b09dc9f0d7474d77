"""set-not-null: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "set-not-null"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ALTER COLUMN a SET NOT NULL;'
    ),
    (
        'ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;',
        'ALTER TABLE users VALIDATE CONSTRAINT email_nn;',
        'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
    (
        'ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;',
        'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
