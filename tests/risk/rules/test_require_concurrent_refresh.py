"""require-concurrent-refresh: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "require-concurrent-refresh"
OK: list[str | tuple[str, ...]] = [
    'REFRESH MATERIALIZED VIEW CONCURRENTLY stats;',
    'REFRESH MATERIALIZED VIEW stats WITH NO DATA;',
    (
        'CREATE MATERIALIZED VIEW stats AS SELECT 1 AS x;\n'
        'REFRESH MATERIALIZED VIEW stats;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'REFRESH MATERIALIZED VIEW stats;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
