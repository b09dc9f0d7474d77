"""A stand-in for `npx prisma migrate deploy` (the real CLI downloads an engine; tests run offline).

It behaves like Prisma Migrate for what pgwarden relies on: it reads DATABASE_URL (the URL's
`options` and `application_name` reach the session), refuses when `_prisma_migrations` holds a
failed migration (P3009), applies each unapplied `prisma/migrations/*/migration.sql` in name order
and writes the same history rows Prisma writes (a failed one keeps finished_at null and its logs).
"""

import hashlib
import os
import sys
import uuid
from pathlib import Path

import psycopg

DDL = """
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)
""".replace(" UNSIGNED", "")


def main(argv: list[str]) -> int:
    if argv[:2] != ["migrate", "deploy"]:
        print(f"fake prisma: unsupported command {' '.join(argv)}", file=sys.stderr)
        return 2
    url = os.environ["DATABASE_URL"]
    folder = Path("prisma/migrations")
    print("Prisma schema loaded from prisma/schema.prisma")
    print('Datasource "db": PostgreSQL database')
    log = os.environ.get("FAKE_TOOL_LOG")
    with psycopg.connect(url, autocommit=True) as conn:
        if log:
            row = conn.execute("select current_setting('lock_timeout'), current_setting('statement_timeout'), "
                               "current_setting('application_name')").fetchone()
            Path(log).write_text(" ".join(row) + "\n" + " ".join(sys.argv) + "\n")
        conn.execute(DDL)
        failed = conn.execute('select migration_name from "_prisma_migrations" '
                              "where finished_at is null and rolled_back_at is null").fetchall()
        if failed:
            print("Error: P3009\n\nmigrate found failed migrations in the target database, new migrations "
                  f"will not be applied.\nThe `{failed[0][0]}` migration started at ... failed")
            return 1
        done = {r[0] for r in conn.execute('select migration_name from "_prisma_migrations" '
                                           "where finished_at is not null and rolled_back_at is null")}
        todo = sorted(d for d in folder.iterdir() if (d / "migration.sql").is_file() and d.name not in done)
        print(f"\n{len(list(folder.glob('*/migration.sql')))} migrations found in prisma/migrations\n")
        for directory in todo:
            sql = (directory / "migration.sql").read_bytes()
            row_id = str(uuid.uuid4())
            conn.execute('insert into "_prisma_migrations" (id, checksum, migration_name) values (%s, %s, %s)',
                         (row_id, hashlib.sha256(sql).hexdigest(), directory.name))
            print(f"Applying migration `{directory.name}`")
            try:
                conn.execute(sql.decode())
            except psycopg.Error as exc:
                logs = f"Database error code: {exc.sqlstate}\n\nDatabase error:\n{exc}"
                conn.execute('update "_prisma_migrations" set logs = %s where id = %s', (logs, row_id))
                print(f"Error: P3018\n\nA migration failed to apply. New migrations cannot be applied before "
                      f"the error is recovered from.\n\nMigration name: {directory.name}\n\n{logs}")
                return 1
            conn.execute('update "_prisma_migrations" set finished_at = now(), applied_steps_count = 1 '
                         "where id = %s", (row_id,))
        print("\nAll migrations have been successfully applied." if todo else "No pending migrations to apply.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
