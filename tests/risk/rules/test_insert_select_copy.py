"""insert-select-copy: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "insert-select-copy"
OK: list[str | tuple[str, ...]] = [
    "INSERT INTO roles (name) VALUES ('admin'), ('user');",
    # a seed row guarded by NOT EXISTS copies nothing
    "INSERT INTO roles (name) SELECT 'admin' WHERE NOT EXISTS (SELECT 1 FROM roles WHERE name = 'admin');",
    # copying from a table created in this migration set
    ("CREATE TABLE staging (id int, name text);", "INSERT INTO users (id, name) SELECT id, name FROM staging;"),
    # a CTE's name is not a table
    "WITH v(n) AS (VALUES (1), (2)) INSERT INTO nums SELECT n FROM v;",
]
ERR: list[str | tuple[str, ...]] = [
    # Prisma: implicit many-to-many join table filled from an existing relation
    'CREATE TABLE "_UserToTeam" ("A" TEXT NOT NULL, "B" TEXT NOT NULL);\n'
    'INSERT INTO "_UserToTeam" ("A", "B") SELECT "id", "teamId" FROM "User" WHERE "teamId" IS NOT NULL;',
    # copy into a new table from a join of existing ones
    "INSERT INTO order_totals SELECT o.user_id, sum(i.price) FROM orders o JOIN order_items i ON i.order_id = o.id "
    "GROUP BY o.user_id;",
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
