"""syntax-error: PostgreSQL cannot parse a statement, so the migration would stop there.

Not a check on a parsed statement: there is no parse tree to look at. The engine calls
:func:`finding` for each statement the parser rejects; :mod:`pgwarden.risk.parse` splits a
broken file so the rest of it is still reviewed.
"""

from __future__ import annotations

from pgwarden.records import Category, Finding, Severity

ID = "syntax-error"
CATEGORY = Category.WILL_FAIL
SEVERITY = Severity.HIGH
SUGGESTION = "Fix the SQL; the migration would stop here. pgwarden reviewed the rest of the file."


def finding(error: str, *, migration: str, file: str, line: int, statement: str) -> Finding:
    """The finding for one statement the parser rejected with ``error``."""
    return Finding(
        rule=ID, category=CATEGORY, severity=SEVERITY,
        message=f"PostgreSQL cannot parse this statement: {error}", suggestion=SUGGESTION,
        migration=migration, file=file, line=line, statement=statement,
    )
