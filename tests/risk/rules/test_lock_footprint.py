"""lock-footprint: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import of_rule, rule_tests

ID = "lock-footprint"
_FOUR = ("ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;\n"
         "CREATE INDEX c_x ON c (x);\nALTER TABLE d ALTER COLUMN x SET NOT NULL;\n")
OK: list[str | tuple[str, ...]] = [
    # three tables: below the footprint threshold
    "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;\nALTER TABLE c ADD COLUMN x int;",
    # new tables lock nothing anyone waits for
    "CREATE TABLE a (x int);\nCREATE TABLE b (x int);\nCREATE TABLE c (x int);\nCREATE TABLE d (x int);\n"
    "ALTER TABLE a ADD COLUMN y int;\nALTER TABLE b ADD COLUMN y int;\nALTER TABLE c ADD COLUMN y int;\n"
    "ALTER TABLE d ADD COLUMN y int;",
    # each table in its own transaction
    "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;\nCOMMIT;\n"
    "BEGIN;\nALTER TABLE c ADD COLUMN x int;\nALTER TABLE d ADD COLUMN x int;\nCOMMIT;",
    # one migration per table
    ("ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;",
     "ALTER TABLE c ADD COLUMN x int;\nALTER TABLE d ADD COLUMN x int;"),
    # concurrent index builds and drops hold no strong lock
    "CREATE INDEX CONCURRENTLY a_x ON a (x);\nCREATE INDEX CONCURRENTLY b_x ON b (x);\n"
    "CREATE INDEX CONCURRENTLY c_x ON c (x);\nDROP TABLE d;\nDROP TABLE e;",
    # the same table altered many times is one table
    "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE a ADD COLUMN y int;\nALTER TABLE a ADD COLUMN z int;\n"
    "ALTER TABLE a ADD COLUMN w int;\nALTER TABLE b ADD COLUMN w int;",
]
ERR: list[str | tuple[str, ...]] = [
    _FOUR,
    # the footprint survives the COMMIT that ends it, and lists every table
    "BEGIN;\n" + _FOUR + 'ALTER TABLE "e" ADD COLUMN x int;\nCOMMIT;\nALTER TABLE f ADD COLUMN x int;',
]


def test_one_finding_per_transaction_listing_the_whole_footprint() -> None:
    hits = of_rule(ID, _FOUR + "ALTER TABLE e ADD COLUMN x int;\nCOMMIT;\n" + _FOUR.replace(" ON c", " ON c2"))
    assert len(hits) == 2
    assert hits[0].line == 4 and hits[0].context["tables"] == ["a", "b", "c", "d", "e"]
    assert "5 existing tables" in hits[0].message


test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
