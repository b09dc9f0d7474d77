"""not-null-column-without-default: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "not-null-column-without-default"
OK: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;',
    'ALTER TABLE users ADD COLUMN note text;',
    'ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ADD COLUMN b int NOT NULL;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
