"""validate-constraint-same-transaction: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "validate-constraint-same-transaction"
OK: list[str | tuple[str, ...]] = [
    (
        'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;',
        'ALTER TABLE orders VALIDATE CONSTRAINT fk;',
    ),
    (
        'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n'
        'COMMIT;\n'
        'ALTER TABLE orders VALIDATE CONSTRAINT fk;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    (
        'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n'
        'ALTER TABLE orders VALIDATE CONSTRAINT fk;'
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
