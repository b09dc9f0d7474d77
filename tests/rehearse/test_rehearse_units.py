"""The pure parts of ``pgwarden rehearse``: which backup, the scratch name, and the error as reported."""

from __future__ import annotations

import datetime as dt

import pytest

from pgwarden.errors import SafetyRefusal
from pgwarden.manifest import BackupManifest, DatabaseIdentity
from pgwarden.pg_messages import mask_details, primary_message
from pgwarden.pipeline.rehearse_choice import (
    MAX_IDENTIFIER,
    SCRATCH_PREFIX,
    choose_rehearsal_backup,
    refuse_scratch_is_target,
    scratch_name,
)
from pgwarden.pipeline.rehearse_errors import sqlstate_of

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)
SHOP = DatabaseIdentity("shop", "7714503774339023358", "postgres@db1:5432/shop")


def _manifest(backup_id: str, *, database: str = "shop", server: str | None = "7714503774339023358",
              age_h: float = 1.0, verified: bool = True) -> BackupManifest:
    created = (NOW - dt.timedelta(hours=age_h)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return BackupManifest(id=backup_id, created_at=created, database=database, server_version="18.0",
                          pg_dump_version="18.0", format="custom", compression="zstd", verified=verified,
                          system_identifier=server)


def test_the_newest_verified_backup_of_this_database_is_chosen() -> None:
    manifests = [_manifest("c", database="other", age_h=0.1), _manifest("b", verified=False, age_h=0.5),
                 _manifest("a", age_h=2)]
    assert choose_rehearsal_backup(manifests, SHOP, max_age_s=3 * 3600, now=NOW).id == "a"
    assert choose_rehearsal_backup(manifests, SHOP, max_age_s=3 * 3600, backup_id="latest", now=NOW).id == "a"


@pytest.mark.parametrize(("manifests", "backup_id", "says"), [
    ([], None, "no verified backup of database 'shop'"),
    ([_manifest("x", database="other")], None, "other databases only"),
    ([_manifest("x", database="other")], "x", "backup x is of database 'other'"),
    ([_manifest("x", server="1")], "x", "another server's database"),
    ([_manifest("x", verified=False)], "x", "not verified"),
    ([_manifest("x", age_h=30)], None, "older than rehearsal.max_age"),
    ([_manifest("x")], "y", "backup y not found"),
])
def test_refusals_say_why(manifests: list[BackupManifest], backup_id: str | None, says: str) -> None:
    with pytest.raises(SafetyRefusal, match=says):
        choose_rehearsal_backup(manifests, SHOP, max_age_s=26 * 3600, backup_id=backup_id, now=NOW)


def test_a_backup_whose_server_is_not_recorded_is_accepted_by_id() -> None:
    assert choose_rehearsal_backup([_manifest("x", server=None)], SHOP, max_age_s=7200, backup_id="x", now=NOW)


def test_the_scratch_name() -> None:
    assert scratch_name("20261122T101500Z-ab12cd", "a1b2c3") == "pgwarden_rehearse_20261122t101500z_ab12cd_a1b2c3"
    long = scratch_name("X" * 100)
    assert len(long) == MAX_IDENTIFIER and long.startswith(SCRATCH_PREFIX)
    assert scratch_name("b") != scratch_name("b")


def test_the_scratch_database_is_never_the_target() -> None:
    name = scratch_name("b", "000000")
    target = DatabaseIdentity(name, "1")
    with pytest.raises(SafetyRefusal, match="would be the target"):
        refuse_scratch_is_target(name, target, DatabaseIdentity("postgres", "1"))
    with pytest.raises(SafetyRefusal):
        refuse_scratch_is_target(name, target, DatabaseIdentity("postgres", None))
    refuse_scratch_is_target(name, target, DatabaseIdentity("postgres", "2"))  # another server: fine
    refuse_scratch_is_target(name, SHOP, DatabaseIdentity("postgres", SHOP.system_identifier))


@pytest.mark.parametrize(("texts", "state"), [
    (("SQLSTATE[23505]: Unique violation: 7 ERROR:  could not create unique index",), "23505"),
    (("Error: P3018\nDatabase error code: 23505\nDatabase error:\nERROR: could not create",), "23505"),
    (("ERROR: column \"x\" contains null values (SQLSTATE 23502)",), "23502"),
    (("sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) could not create unique index",), "23505"),
    (("(psycopg2.errors.NotNullViolation) column \"x\" of relation \"t\" contains null values",), "23502"),
    (("psycopg.errors.NoSuchThing happened",), None),
    ((None, "nothing here"), None),
])
def test_sqlstate_in_each_tools_words(texts: tuple[str | None, ...], state: str | None) -> None:
    assert sqlstate_of(*texts) == state


def test_the_message_is_the_primary_line_without_production_values() -> None:
    sqldir = 'could not create unique index "orders_customer_key"\nDETAIL:  Key (customer_id)=(582) is duplicated.'
    assert primary_message(sqldir) == 'could not create unique index "orders_customer_key"'
    laravel = ("SQLSTATE[23505]: Unique violation: 7 ERROR:  duplicate key value violates unique constraint "
               '"users_email_key"\nDETAIL:  Key (email)=(ann@example.com) already exists. (Connection: pgsql, SQL: '
               "insert into users (email) values ('ann@example.com'))")
    assert primary_message("exit 1", laravel) == 'duplicate key value violates unique constraint "users_email_key"'
    cast = 'invalid input syntax for type integer: "12a"'
    assert primary_message(cast, sqlstate="22P02") == 'invalid input syntax for type integer: "…"'
    assert primary_message("Key (id)=(7) is still referenced") == "Key (id)=(…) is still referenced"
    assert primary_message("") is None and primary_message(None) is None
    assert len(primary_message("x" * 1000) or "") == 300


def test_progress_lines_lose_details() -> None:
    text = 'migration 0004 failed: could not create unique index "k"\nDETAIL:  Key (c)=(582) is duplicated.'
    masked = mask_details(text)
    assert "582" not in masked and masked.startswith("migration 0004 failed") and "DETAIL:" in masked


def test_the_copy_must_fit_on_its_server() -> None:
    from pgwarden.pipeline.rehearse_choice import refuse_short_space

    line = refuse_short_space(3 << 30, 10 << 30, "/var/lib/postgresql/data", "public.orders")
    assert "needs about 3.0 GiB" in line and "public.orders again" in line and "10.0 GiB free" in line
    unknown = refuse_short_space(3 << 30, None, "the server (db.example) is not on this machine")
    assert "cannot be checked: the server (db.example)" in unknown
    with pytest.raises(SafetyRefusal, match="not enough free space on the server"):
        refuse_short_space(3 << 30, 1 << 30, "/data")


def test_audit_fields_and_tool_output_lose_values() -> None:
    from pgwarden.pg_messages import mask_data

    fields = {"error": 'could not create unique index "k" DETAIL:  Key (sku)=(dup-sku-7f3e9) is duplicated.',
              "output": ["SQLSTATE[22P02]: Invalid text representation: 7 ERROR:  invalid input syntax for type "
                         "integer: \"12a\" (Connection: pgsql, SQL: update t set n = '12a')"],
              "attempt": 1}
    masked = mask_data(fields)
    text = repr(masked)
    assert "dup-sku" not in text and "12a" not in text and masked["attempt"] == 1
    assert masked["error"].startswith('could not create unique index "k" DETAIL: (left out')
    assert 'integer: "…" (SQL left out)' in masked["output"][0]


def test_alembics_traceback_gives_the_message() -> None:
    output = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
              "psycopg.errors.UniqueViolation: could not create unique index \"accounts_plan_key\"\n"
              "DETAIL:  Key (plan)=(p1) is duplicated.\n\nThe above exception was the direct cause:\n"
              "sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) could not create unique index "
              "\"accounts_plan_key\"\nDETAIL:  Key (plan)=(p1) is duplicated.\n[SQL: CREATE UNIQUE INDEX ...]\n")
    assert primary_message("alembic migrate exited with code 1:", output) == \
        'could not create unique index "accounts_plan_key"'
    assert sqlstate_of("alembic migrate exited with code 1:", output) == "23505"


def test_prismas_driver_adapter_error() -> None:
    output = ("5 migrations found in prisma/migrations\nError: external connector error\n"
              "Unique constraint failed: orders_code_key\n   0: sql_schema_connector::apply_migration::apply_script\n")
    assert sqlstate_of("prisma migrate exited with code 1:", output) == "23505"
    assert primary_message("prisma migrate exited with code 1:", output) == "Unique constraint failed: orders_code_key"
    assert sqlstate_of("Unique constraint failed: x") is None  # not from Prisma's adapter


def test_a_wrapped_detail_is_left_out_to_its_end() -> None:
    output = ('  SQLSTATE[23505]: Unique violation: 7 ERROR:  could not create unique index "orders_code_unique"\n'
              "  DETAIL:  Key (code)=(wrappedwrappedwrappedwrappedwrappedwrappedwrappedw\n"
              "  rappedwrappedwrapped) is duplicated.\n"
              "  CONTEXT:  parallel worker\n  (SQL: alter table \"orders\" add constraint ...)\n\n"
              "  at vendor/laravel/framework/src/Illuminate/Database/Connection.php:712\n")
    masked = mask_details(output)
    assert "rapped" not in masked and "DETAIL: (left out" in masked and "CONTEXT: (left out" in masked
    assert 'could not create unique index "orders_code_unique"' in masked and "Connection.php:712" in masked


@pytest.mark.parametrize(("line", "state"), [
    ("Error: external connector error\nNull constraint failed: `x`", "23502"),
    ("Error: external connector error\nForeign key constraint failed: f", "23503"),
    ("Error: external connector error\nNo such table: nope", "42P01"),
    ("Error in the underlying connector (WASM_ERROR): Error: unknown variant `InvalidInputValue`", "22P02"),
])
def test_prismas_other_kinds(line: str, state: str) -> None:
    assert sqlstate_of("prisma migrate exited with code 1:", line) == state
