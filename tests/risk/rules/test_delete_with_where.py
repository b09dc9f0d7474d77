"""delete-with-where: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "delete-with-where"
OK: list[str | tuple[str, ...]] = [
    # no WHERE: delete-without-where's case
    "DELETE FROM users;",
    # a table created in this migration
    "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nDELETE FROM t WHERE id = 1;",
    # proven empty by an earlier TRUNCATE in this migration
    "TRUNCATE sessions;\nDELETE FROM sessions WHERE expires_at < now();",
    "SELECT 1;",
    # a tool's own history table is not the application's data
    "DELETE FROM \"_prisma_migrations\" WHERE migration_name = '20240101_init';",
]
ERR: list[str | tuple[str, ...]] = [
    'DELETE FROM "Session" WHERE "expiresAt" < now();',
    "DELETE FROM audit.events e USING users u WHERE e.user_id = u.id AND u.deleted;",
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
