"""enum-value-used-in-transaction: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "enum-value-used-in-transaction"
OK: list[str | tuple[str, ...]] = [
    "ALTER TYPE mood ADD VALUE 'meh';",
    (
        "ALTER TYPE mood ADD VALUE 'meh';",
        "UPDATE users SET mood = 'meh' WHERE id = 1;",
    ),
    (
        "ALTER TYPE mood ADD VALUE 'meh';\n"
        'COMMIT;\n'
        "UPDATE users SET mood = 'meh' WHERE id = 1;"
    ),
]
ERR: list[str | tuple[str, ...]] = [
    (
        "ALTER TYPE mood ADD VALUE 'meh';\n"
        "UPDATE users SET mood = 'meh' WHERE mood = 'sad';"
    ),
    (
        "ALTER TYPE mood ADD VALUE 'meh';\n"
        "ALTER TABLE users ALTER COLUMN mood SET DEFAULT 'meh';"
    ),
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
