"""cluster: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "cluster"
OK: list[str | tuple[str, ...]] = [
    (
        'CREATE TABLE t (id bigint PRIMARY KEY, a int, name text);\n'
        'CLUSTER t USING t_pkey;'
    ),
]
ERR: list[str | tuple[str, ...]] = [
    'CLUSTER users USING users_pkey;',
    'CLUSTER;',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
