"""enum-value-used-in-transaction: a label added by ALTER TYPE ... ADD VALUE cannot be used
before that transaction commits ("unsafe use of new value"). A migration file normally runs as
one transaction, so using the label later in the same file fails unless a COMMIT comes first.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement
from pgwarden.risk.sqlast import string_constants

ID = "enum-value-used-in-transaction"
CATEGORY = Category.TRANSACTION_SAFETY
NODES = None
SUGGESTION = (
    "Add the enum value in one migration and use it (defaults, updates, checks) in the next one, "
    "or COMMIT between the two statements."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterable[Hit]:
    labels = ctx.state.migration.new_enum_labels
    if not labels:  # nearly every statement: no generator made for it
        return ()
    return [Hit(Severity.HIGH, f"Uses enum value '{label}' of {labels[label]} in the transaction that added "
                "it: PostgreSQL refuses with \"unsafe use of new value\"", SUGGESTION)
            for label in sorted(string_constants(stmt.node) & labels.keys())]
