"""require-concurrent-index-drop: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-concurrent-index-drop"
OK: list[str | tuple[str, ...]] = [
    'DROP INDEX CONCURRENTLY users_email;',
    (
        'CREATE INDEX CONCURRENTLY i ON users (a);\n'
        'DROP INDEX i;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'DROP INDEX users_email;',
    'DROP INDEX IF EXISTS a, b;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
