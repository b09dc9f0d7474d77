"""syntax-error: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "syntax-error"
OK: list[str | tuple[str, ...]] = [
    "ALTER TABLE users ADD COLUMN a int;",
    "DO $$ BEGIN PERFORM 1; END $$;\nCREATE FUNCTION f() RETURNS int AS $b$ SELECT 1; $b$ LANGUAGE sql;",
    "-- ALTR TABLE x; is only a comment\nSELECT 1;",
]
ERR: list[str | tuple[str, ...]] = [
    "ALTR TABLE x;",
    "SET lock_timeout = '1s';\nALTER TABLE users ADD COLUMN a int;\nALTR TABLE x;\nDROP TABLE users;",
    "SELECT 1;\nSELECT 'never closed;\nDROP TABLE users;",
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
