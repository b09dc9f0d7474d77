"""drop-table: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "drop-table"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id int);\n'
        'DROP TABLE t;'
    ),
    (
        'CREATE TABLE t (id int);',
        'DROP TABLE t;',
    ),
    'DROP VIEW v;',
    'DROP INDEX CONCURRENTLY i;',
]
ERR: list[str | tuple[str, ...]] = [
    'DROP TABLE users;',
    'DROP TABLE IF EXISTS public.users, orders CASCADE;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)


def test_every_finding_names_both_consequences() -> None:
    """Data loss and the running release that still queries the table (#15)."""
    from tests.risk.helpers import of_rule

    for sql in ERR:
        for hit in of_rule(ID, *(sql if isinstance(sql, tuple) else (sql,))):
            assert "data" in hit.message and "release still running fails" in hit.message, hit.message
