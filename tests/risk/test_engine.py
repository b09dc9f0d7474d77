"""The engine around the rules: lines, syntax errors, suppression, the migration set, max_severity."""

from __future__ import annotations

import pytest

from pgwarden.config import IgnoreEntry, RiskConfig
from pgwarden.records import Category, Finding, Migration, Severity, is_blocked
from pgwarden.risk.engine import max_severity, review
from tests.risk.helpers import run

ADVICE = "require-lock-timeout"


def without_advice(findings: list) -> list:
    """Drop the low lock_timeout advice that any DDL on an existing table also earns."""
    return [f for f in findings if f.rule != ADVICE]


def test_findings_carry_migration_file_line_and_trimmed_statement() -> None:
    sql = "-- add index\n\nSET lock_timeout = '5s';\n\nCREATE INDEX users_email\n  ON users (email);\n"
    [finding] = run(sql)
    assert (finding.rule, finding.migration, finding.file, finding.line) == (
        "require-concurrent-index", "m1", "migrations/m1.sql", 5)
    assert finding.statement == "CREATE INDEX users_email\n  ON users (email)"
    assert finding.table == "users"


def test_long_statements_are_truncated() -> None:
    columns = ", ".join(f"c{i}" for i in range(200))
    [finding] = run(f"SET lock_timeout = '1s'; CREATE INDEX i ON users ({columns});")
    assert finding.statement is not None and len(finding.statement) <= 300 and finding.statement.endswith("...")


def test_syntax_error_is_a_finding_and_the_rest_of_the_file_is_reviewed() -> None:
    sql = "SET lock_timeout = '1s';\nALTER TABLE users ADD COLUMN a int;\nALTR TABLE x;\nDROP TABLE users;\n"
    findings = run(sql)
    assert [(f.rule, f.line) for f in findings] == [("syntax-error", 3), ("drop-table", 4)]
    assert findings[0].severity is Severity.HIGH and findings[0].category.value == "will-fail"
    assert "ALTR" in findings[0].message


def test_unterminated_quote_gives_one_finding_for_the_file() -> None:
    findings = run("SELECT 1;\nSELECT 'never closed;\nDROP TABLE users;")
    assert [f.rule for f in findings] == ["syntax-error"]


def test_do_blocks_and_dollar_quotes_parse() -> None:
    sql = "DO $$ BEGIN PERFORM 1; END $$;\nCREATE FUNCTION f() RETURNS int AS $b$ SELECT 1; $b$ LANGUAGE sql;"
    assert run(sql) == []


def test_objects_created_in_an_earlier_migration_of_the_set_are_new() -> None:
    assert run("CREATE TABLE t (id int);", "CREATE INDEX ON t (id); ALTER TABLE t ALTER id SET NOT NULL;") == []


def test_inline_ignore_on_or_directly_above_the_statement() -> None:
    above = "-- pgwarden:ignore drop-table replaced by archive table in 2023\nDROP TABLE users;"
    same_line = "DROP TABLE users; -- pgwarden:ignore drop-table replaced by archive table"
    far = "-- pgwarden:ignore drop-table replaced\n\nDROP TABLE users;"
    assert without_advice(run(above)) == [] and without_advice(run(same_line)) == []
    assert [f.rule for f in without_advice(run(far))] == ["drop-table"]


def test_ignore_without_reason_is_not_applied_and_is_reported() -> None:
    findings = without_advice(run("-- pgwarden:ignore drop-table\nDROP TABLE users;"))
    assert sorted((f.rule, f.severity.value, f.line) for f in findings) == [
        ("drop-table", "high", 2), ("ignore-without-reason", "low", 1)]


def test_config_ignore_needs_a_reason_and_can_target_one_migration() -> None:
    migrations = [Migration("a", "a.sql", sql="DROP TABLE users;"), Migration("b", "b.sql", sql="DROP TABLE orders;")]
    risk = RiskConfig(ignore=[IgnoreEntry(rule="drop-table", migration="a", reason="archived in S3")])
    assert [f.migration for f in without_advice(review(migrations, risk=risk))] == ["b"]
    bare = RiskConfig(ignore=[IgnoreEntry(rule="drop-table")])
    rules = sorted(f.rule for f in without_advice(review(migrations, risk=bare)))
    assert rules == ["drop-table", "drop-table", "ignore-without-reason"]


def test_migrations_without_sql_are_skipped() -> None:
    assert review([Migration("x", "x.php", sql=None)]) == []


def test_max_severity() -> None:
    assert max_severity([]) is None
    assert max_severity(run("DROP TABLE users;", "SET lock_timeout = '1s'; DROP SCHEMA s CASCADE;")) \
        is Severity.CRITICAL


@pytest.mark.parametrize("severities", [[], ["low"], ["medium", "info", "high", "low"], ["critical", "info"],
                                        ["info", "info"], ["low", "medium"]])
def test_highest_severity_and_blocking_follow_the_severity_order(severities: list[str]) -> None:
    """The highest severity (and so --fail-on) is the order info < low < medium < high < critical,
    whatever the order of the findings."""
    findings = [Finding("r", Category.DATA_LOSS, Severity(s), "m", "s") for s in severities]
    expected = max((Severity(s) for s in severities), key=lambda s: s.rank, default=None)
    assert max_severity(findings) is expected
    for fail_on in ("info", "low", "medium", "high", "critical"):
        assert is_blocked(findings, fail_on) == (expected is not None and expected.rank >= Severity(fail_on).rank)
    assert not is_blocked(findings, "never")


def test_an_ordinary_safe_migration_produces_nothing_blocking() -> None:
    sql = """
    SET lock_timeout = '5s';
    CREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint NOT NULL
      REFERENCES users (id), total numeric(12,2) NOT NULL DEFAULT 0, created_at timestamptz DEFAULT now());
    CREATE INDEX invoices_user ON invoices (user_id);
    ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';
    ALTER TABLE users ADD COLUMN last_seen timestamptz;
    ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
    """
    findings = run(sql, "ALTER TABLE orders VALIDATE CONSTRAINT orders_user;",
                   "CREATE INDEX CONCURRENTLY users_plan ON users (plan);")
    assert findings == []


def test_a_dotted_schema_is_not_a_dotted_table_of_another_schema() -> None:
    # "a.b".c and a."b.c" are two tables; keyed by the text a.b.c they were one, so an index on
    # the old table a."b.c" looked like one on the table just created.
    findings = run('CREATE TABLE "a.b".c (x int);', 'SET lock_timeout = \'1s\'; CREATE INDEX i ON a."b.c" (x);')
    assert [(f.rule, f.table) for f in findings] == [("require-concurrent-index", "a.b.c")]


def _every_example() -> list[tuple[str, ...]]:
    """Every rule test's ok and err SQL, each a migration set."""
    import importlib

    from pgwarden.risk.rules import RULES

    examples: list[tuple[str, ...]] = []
    for rule in RULES:
        module = importlib.import_module(f"tests.risk.rules.test_{rule.ID.replace('-', '_')}")
        for example in [*getattr(module, "OK", ()), *getattr(module, "ERR", ())]:  # some test by hand
            examples.append(example if isinstance(example, tuple) else (example,))
    return examples


def test_running_rules_only_on_the_alter_subcommands_they_name_changes_no_finding(monkeypatch) -> None:
    """SUBCOMMANDS only skips work: each rule run on every ALTER TABLE finds the same, over every
    rule's examples and the corpus."""
    from pgwarden.risk import engine
    from tests.corpus.generate import cases

    sets = [[Migration(name=f"m{i + 1}", path=f"m{i + 1}.sql", sql=sql) for i, sql in enumerate(example)]
            for example in _every_example()]
    sets.append([case.migration for case in cases()])
    dispatched = [review(migrations, merge=False) for migrations in sets]
    monkeypatch.setattr(engine, "_looks_at", lambda rule, subcommands: True)
    monkeypatch.setattr(engine, "_ALTER_RULES", {})
    assert [review(migrations, merge=False) for migrations in sets] == dispatched
    assert sum(map(len, dispatched)) > 1000  # the examples do reach the rules


def test_an_alter_with_several_subcommands_meets_each_of_their_rules() -> None:
    sql = ("ALTER TABLE users ADD COLUMN a int NOT NULL, ALTER COLUMN email TYPE varchar(10), DROP COLUMN b, "
           "ALTER COLUMN c SET NOT NULL;")
    rules = {f.rule for f in run(sql, merge=False)}
    assert {"not-null-column-without-default", "change-column-type", "drop-column", "set-not-null"} <= rules
