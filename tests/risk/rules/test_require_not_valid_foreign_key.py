"""require-not-valid-foreign-key: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-not-valid-foreign-key"
OK: list[str | tuple[str, ...]] = [
    'ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;',
    'ALTER TABLE orders VALIDATE CONSTRAINT orders_user;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES users (id);'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id);',
    'ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
