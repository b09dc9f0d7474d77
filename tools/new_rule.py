"""Scaffold a new risk rule: the rule module, its ok/err test and its doc page, together.

    python tools/new_rule.py prefer-bigint --category other

writes src/pgwarden/risk/rules/prefer_bigint.py, tests/risk/rules/test_prefer_bigint.py and
docs/rules/prefer-bigint.md, then prints the line to add to RULES in risk/rules/__init__.py
(the registry stays an explicit list on purpose). It refuses to overwrite existing files.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = {
    "data-loss": "DATA_LOSS", "table-rewrite": "TABLE_REWRITE", "blocking-lock": "BLOCKING_LOCK",
    "backward-incompatible": "BACKWARD_INCOMPATIBLE", "transaction-safety": "TRANSACTION_SAFETY",
    "will-fail": "WILL_FAIL", "other": "OTHER",
}

RULE = '''"""{rule_id}: {summary}"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import table_of

ID = "{rule_id}"
CATEGORY = Category.{category}
NODES = ({node},)
# A rule of ALTER TABLE also names the subcommands it reads, and is run only on those:
# SUBCOMMANDS = frozenset({{enums.AlterTableType.AT_AddColumn}})
SUGGESTION = "{summary}"


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    table = table_of(getattr(stmt.node, "relation", None))
    if ctx.is_new(table):
        return
    yield Hit(Severity.MEDIUM, "{summary}", SUGGESTION, table)
'''

TEST = '''"""{rule_id}: ok examples stay silent, err examples fire (their text is snapshot-checked)."""

from __future__ import annotations

from tests.risk.helpers import rule_tests

ID = "{rule_id}"
OK: list[str | tuple[str, ...]] = [
    "CREATE TABLE t (id int);",
]
ERR: list[str | tuple[str, ...]] = [
    {err!r},
]

test_ok, test_err, test_snapshot = rule_tests(ID, OK, ERR)
'''

DOC = '''# {rule_id}

{summary}

## Problem

{summary}

## Safe alternative

### Plain SQL

```sql
{err}
```

### Prisma

Edit the generated `migration.sql` (`prisma migrate dev --create-only`).

### Laravel

Use `DB::statement(...)` with the safe SQL above.

### Alembic

Use `op.execute(...)` with the safe SQL above.
'''


def scaffold(rule_id: str, category: str, node: str, summary: str, err: str, root: Path = ROOT) -> list[Path]:
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", rule_id):
        raise SystemExit(f"rule id must be kebab-case (like require-concurrent-index), got {rule_id!r}")
    module = rule_id.replace("-", "_")
    values = {"rule_id": rule_id, "category": CATEGORIES[category], "node": f"ast.{node}", "summary": summary,
              "err": err}
    files = {
        root / "src/pgwarden/risk/rules" / f"{module}.py": RULE.format(**values),
        root / "tests/risk/rules" / f"test_{module}.py": TEST.format(**values),
        root / "docs/rules" / f"{rule_id}.md": DOC.format(**values),
    }
    existing = [p for p in files if p.exists()]
    if existing:
        raise SystemExit(f"refusing to overwrite {', '.join(map(str, existing))}")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("rule_id", help="kebab-case id, e.g. prefer-bigint")
    parser.add_argument("--category", choices=sorted(CATEGORIES), default="other")
    parser.add_argument("--node", default="AlterTableStmt", help="pglast.ast node type the rule inspects")
    parser.add_argument("--summary", default="Describe the risk and the safe alternative.")
    parser.add_argument("--err", default="ALTER TABLE users ADD COLUMN x int;", help="SQL the rule must flag")
    args = parser.parse_args(argv)
    for path in scaffold(args.rule_id, args.category, args.node, args.summary, args.err):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    module = args.rule_id.replace("-", "_")
    print(f"now add `{module}` to the imports and to RULES in src/pgwarden/risk/rules/__init__.py, then run "
          f"PGWARDEN_UPDATE_SNAPSHOTS=1 pytest tests/risk/rules/test_{module}.py", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
