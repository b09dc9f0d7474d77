"""extension-unavailable: CREATE EXTENSION of an extension the server does not ship (or one that is
already installed, without IF NOT EXISTS) fails the migration.

Only live context can tell: ``pg_available_extensions`` lists the extensions whose files are
installed on the server. A managed database offers a fixed list; a self-hosted one needs the
package (postgresql-contrib, postgis, pgvector...) on every server, replicas included.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from pgwarden.records import Category, Severity
from pgwarden.risk.rule import Hit, RuleContext, Statement

ID = "extension-unavailable"
CATEGORY = Category.WILL_FAIL
NODES = (ast.CreateExtensionStmt,)
SUGGESTION = (
    "Install the extension's package on the server (or enable it in the managed database's settings / "
    "allow-list) before deploying, or drop the dependency; write CREATE EXTENSION IF NOT EXISTS so a "
    "server that has it already passes."
)


def check(stmt: Statement, ctx: RuleContext) -> Iterator[Hit]:
    name = stmt.node.extname
    if not name:
        return
    facts = ctx.facts.extension(name)
    if facts is None:
        return  # static plan, or the lookup failed: nothing is known about the server
    if facts.installed_version is not None:
        if not stmt.node.if_not_exists:
            yield Hit(Severity.HIGH, f"Creates extension {name}, which is installed already (version "
                      f"{facts.installed_version}): without IF NOT EXISTS the migration fails with "
                      '"already exists"', SUGGESTION, context={"extension": name, "installed": True})
        return
    if not facts.available:
        yield Hit(Severity.HIGH, f"Creates extension {name}, which this server does not have (not in "
                  "pg_available_extensions): the migration fails", SUGGESTION,
                  context={"extension": name, "available": False})
