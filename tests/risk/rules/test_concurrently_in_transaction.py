"""concurrently-in-transaction: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "concurrently-in-transaction"
OK: list[str | tuple[str, ...]] = [
    'CREATE INDEX CONCURRENTLY i ON users (a);',
    (
        'BEGIN;\n'
        'CREATE INDEX i ON t (a);\n'
        'COMMIT;\n'
        'CREATE INDEX CONCURRENTLY j ON users (a);'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    (
        'BEGIN;\n'
        'CREATE INDEX CONCURRENTLY i ON users (a);\n'
        'COMMIT;'
    ),
    (
        'START TRANSACTION;\n'
        'DROP INDEX CONCURRENTLY i;\n'
        'COMMIT;'
    ),
    (
        'BEGIN;\n'
        'REINDEX INDEX CONCURRENTLY i;\n'
        'COMMIT;'
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
