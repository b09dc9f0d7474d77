"""backfill-under-lock: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "backfill-under-lock"
OK: list[str | tuple[str, ...]] = [
    # no lock taken before the update
    "UPDATE users SET plan = 'free' WHERE plan IS NULL;",
    # the table is created in this migration
    'CREATE TABLE t (id int, a int);\nALTER TABLE t ADD COLUMN b int;\nUPDATE t SET b = a WHERE a > 0;',
    # the ALTER's transaction committed before the update
    "BEGIN;\nALTER TABLE users ADD COLUMN plan text;\nCOMMIT;\nUPDATE users SET plan = 'free' WHERE id < 100;",
    # the ALTER is in an earlier migration (its own transaction)
    ("ALTER TABLE users ADD COLUMN plan text;", "UPDATE users SET plan = 'free' WHERE plan IS NULL;"),
    # another table was altered
    "ALTER TABLE orders ADD COLUMN note text;\nUPDATE users SET plan = 'free' WHERE plan IS NULL;",
    # a weak lock (VALIDATE CONSTRAINT) blocks no reads or writes
    "ALTER TABLE users VALIDATE CONSTRAINT users_plan_check;\nUPDATE users SET plan = 'free' WHERE id = 1;",
    # Alembic's own history row, after a lock on it
    "LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE;\n"
    "UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';",
    # proven empty: an ADD COLUMN NOT NULL without default succeeds only on an empty table
    'ALTER TABLE users ADD COLUMN code text NOT NULL;\nUPDATE users SET code = id::text WHERE true;',
]
ERR: list[str | tuple[str, ...]] = [
    # Prisma's add-backfill-constrain migration
    'ALTER TABLE "User" ADD COLUMN "plan" TEXT;\n'
    'UPDATE "User" SET "plan" = \'free\' WHERE "plan" IS NULL;\n'
    'ALTER TABLE "User" ALTER COLUMN "plan" SET NOT NULL;',
    # UPDATE ... FROM after an index build on the same table
    "CREATE INDEX orders_user_idx ON orders (user_id);\n"
    "UPDATE orders SET region = u.region FROM users u WHERE u.id = orders.user_id;",
    # a backfill of every row (no WHERE) holds it as long
    'ALTER TABLE "User" ADD COLUMN "plan" TEXT;\nUPDATE "User" SET "plan" = \'free\';',
    # inside an explicit transaction, schema-qualified
    "BEGIN;\nALTER TABLE app.accounts ADD COLUMN tier int;\n"
    "UPDATE app.accounts SET tier = 1 WHERE tier IS NULL;\nCOMMIT;",
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
