"""drop-column: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "drop-column"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t DROP COLUMN a;'
    ),
    (
        'ALTER TABLE users ADD COLUMN tmp int;\n'
        'ALTER TABLE users DROP COLUMN tmp;'
    ),
    'ALTER TABLE users DROP CONSTRAINT c;',
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users DROP COLUMN name;',
    'ALTER TABLE app.users DROP COLUMN IF EXISTS legacy, ADD COLUMN x int;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)


def test_every_finding_names_both_consequences() -> None:
    """Data loss and the running release that still names the column (#15), also when nothing is lost."""
    from tests.risk.helpers import of_rule

    empty = "ALTER TABLE users ADD COLUMN tenant int NOT NULL;\nALTER TABLE users DROP COLUMN name;"
    for sql in [*ERR, empty]:
        for hit in of_rule(ID, *(sql if isinstance(sql, tuple) else (sql,))):
            assert "value" in hit.message and "release still running fails" in hit.message, hit.message
