"""add-column-volatile-default: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "add-column-volatile-default"
OK: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;',
    'ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now();',
    'ALTER TABLE users ADD COLUMN total int GENERATED ALWAYS AS (a + 1) VIRTUAL;',
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();',
    'ALTER TABLE users ADD COLUMN seq bigserial;',
    'ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;',
    'ALTER TABLE users ADD COLUMN total int GENERATED ALWAYS AS (a + 1) STORED;',
    'ALTER TABLE users ADD COLUMN code text DEFAULT my_code();',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
