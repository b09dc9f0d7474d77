"""require-not-valid-check: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-not-valid-check"
OK: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0) NOT VALID;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ADD CHECK (a > 0);'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age >= 0);',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
