"""concurrent-index-if-not-exists: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "concurrent-index-if-not-exists"
OK: list[str | tuple[str, ...]] = [
    "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
    "CREATE INDEX IF NOT EXISTS users_email_idx ON users (email);",
    "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);",
]
ERR: list[str | tuple[str, ...]] = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
    'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "User_email_key" ON "User"("email");',
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
