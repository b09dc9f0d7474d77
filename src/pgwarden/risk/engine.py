"""The risk engine: parse each pending migration, run every rule on every statement, suppress.

:func:`review_set` is the entry point the plan pipeline calls: a :class:`Review` holds the
findings and, apart, the ones waived by a reasoned ignore (an ignore without a reason waives
nothing). :func:`review` is the findings alone. Both are pure apart from the optional read-only
connection, which is wrapped in :class:`~pgwarden.risk.context.LiveFacts` so rules can weigh a
finding by the real table. Several findings on one statement come out as one, at the highest
severity, the others folded in as detail (:mod:`pgwarden.risk.merge`). Statements are seen in
apply order across the whole set, so a table created by migration 1 is known to be new and empty
in migration 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pglast import ast, enums

from pgwarden.config import IgnoreEntry, RiskConfig
from pgwarden.gcpause import cyclic_gc_paused
from pgwarden.names import QualifiedName
from pgwarden.records import Finding, Migration, highest_severity
from pgwarden.risk.context import FactsSource, LiveFacts, NoFacts
from pgwarden.risk.merge import merge_statement
from pgwarden.risk.parse import Directive, ParsedStatement, display_statement, parse_sql
from pgwarden.risk.plpgsql import expand_do_blocks
from pgwarden.risk.rule import RuleContext, Statement, StatementRule
from pgwarden.risk.rules import RULES, ignore_without_reason, lock_footprint, syntax_error
from pgwarden.risk.sqlast import table_from_names
from pgwarden.risk.state import SetState
from pgwarden.risk.trusted import trusted_nodes

if TYPE_CHECKING:
    import psycopg  # only for the annotation: a static review never loads it


#: The highest severity among findings; None when there are none.
max_severity = highest_severity


def _dispatch_table(
    rules: Sequence[StatementRule],
) -> tuple[dict[type, list[StatementRule]], list[StatementRule]]:
    """Rules by the node type they look at, so each statement only meets the rules that care."""
    by_type: dict[type, list[StatementRule]] = {}
    any_node: list[StatementRule] = []
    for rule in rules:
        nodes = rule.NODES
        if nodes is None:
            any_node.append(rule)
            continue
        for node_type in nodes:
            by_type.setdefault(node_type, []).append(rule)
    return by_type, any_node


_BY_TYPE, _ANY_NODE = _dispatch_table(RULES)
#: Node type -> the rules a statement of that type meets; ALTER TABLE by its subcommands (the one
#: subcommand, or the frozenset of several) in _ALTER_RULES. Built on first use.
_RULES_FOR: dict[type, list[StatementRule]] = {}
_ALTER_RULES: dict[Any, list[StatementRule]] = {}


def _rules_for(node: Any) -> list[StatementRule]:
    """The rules ``node`` meets, in RULES order: those of its type, then those of every statement.

    An ALTER TABLE meets only the rules whose ``SUBCOMMANDS`` it has (half of a large set's
    statements are ALTER TABLE, and a dozen rules each look at one kind of subcommand).
    """
    node_type = type(node)
    if node_type is not ast.AlterTableStmt:
        rules = _RULES_FOR.get(node_type)
        if rules is None:
            rules = _RULES_FOR[node_type] = _BY_TYPE.get(node_type, []) + _ANY_NODE
        return rules
    cmds: tuple[Any, ...] = node.cmds or ()
    key = cmds[0].subtype if len(cmds) == 1 else frozenset(cmd.subtype for cmd in cmds)
    rules = _ALTER_RULES.get(key)
    if rules is None:
        subcommands = frozenset((key,)) if len(cmds) == 1 else key
        rules = _ALTER_RULES[key] = [
            rule for rule in _BY_TYPE.get(node_type, []) if _looks_at(rule, subcommands)
        ] + _ANY_NODE
    return rules


def _looks_at(rule: StatementRule, subcommands: frozenset[Any]) -> bool:
    wanted: frozenset[Any] | None = getattr(rule, "SUBCOMMANDS", None)
    return wanted is None or not wanted.isdisjoint(subcommands)


@dataclass
class Review:
    """What the engine found: ``findings`` count; ``waived`` were accepted with a reason."""

    findings: list[Finding] = field(default_factory=list)
    waived: list[Finding] = field(default_factory=list)
    #: Live-context lookups that failed (a timeout, a permission), each once: findings on those
    #: tables were judged without their size.
    facts_errors: list[str] = field(default_factory=list)


def review(
    migrations: Sequence[Migration],
    *,
    conn: psycopg.Connection[Any] | None = None,
    risk: RiskConfig | None = None,
    merge: bool = True,
) -> list[Finding]:
    """Findings for the pending ``migrations`` (in apply order), after suppression.

    ``merge=False`` keeps each rule's finding apart (a rule's own tests look at its verdict alone).
    """
    return review_set(migrations, conn=conn, risk=risk, merge=merge).findings


def review_set(
    migrations: Sequence[Migration],
    *,
    conn: psycopg.Connection[Any] | None = None,
    risk: RiskConfig | None = None,
    session_lock_timeout: bool = False,
    merge: bool = True,
) -> Review:
    """Findings for the pending ``migrations`` (in apply order), and those waived with a reason.

    ``session_lock_timeout``: the session that applies them already has a lock_timeout (pgwarden
    deploy sets ``deploy.lock_timeout``), as if each migration started with SET lock_timeout; a
    migration that turns it off (SET lock_timeout = 0) is judged as written. ``merge``: several
    findings on one statement come out as one (:func:`~pgwarden.risk.merge.merge_statement`).
    """
    with cyclic_gc_paused():
        return _review_set(migrations, conn, risk or RiskConfig(), session_lock_timeout, merge)


def _review_set(migrations: Sequence[Migration], conn: psycopg.Connection[Any] | None, risk: RiskConfig,
                session_lock_timeout: bool, merge: bool) -> Review:
    facts: FactsSource = LiveFacts(conn, risk.statement_timeout) if conn is not None else NoFacts()
    state = SetState()
    # Parse everything up front, in one trusted_nodes() block: switching pglast's node check off
    # and on per file would give back half of what skipping it saves, and rule code stays out.
    # The statements inside DO blocks too (dropped_tables looks at the top-level ones only).
    with trusted_nodes():
        parsed_set = [(m, parse_sql(m.sql)) for m in migrations if m.sql is not None]
        expanded = [expand_do_blocks(statements) for _, statements in parsed_set]
    ctx = RuleContext(state=state, facts=facts, dropped_tables=_dropped_tables(parsed_set))
    result = Review()
    for (migration, _), statements in zip(parsed_set, expanded, strict=True):
        state.start_migration(migration.name)
        state.migration.lock_timeout_set = session_lock_timeout
        for parsed in statements:
            _review_statement(parsed, migration, ctx, risk.ignore, result, merge=merge)
        for finding in lock_footprint.migration_findings(ctx, migration):
            reason = _waiver(finding, (), risk.ignore)
            if reason is None:
                result.findings.append(finding)
            else:
                result.waived.append(replace(finding, waived_reason=reason))
    result.findings.extend(ignore_without_reason.config_findings(risk.ignore))
    if isinstance(facts, LiveFacts):
        result.facts_errors = list(dict.fromkeys(facts.errors))
    return result


def _review_statement(parsed: ParsedStatement, migration: Migration, ctx: RuleContext,
                      ignores: Sequence[IgnoreEntry], result: Review, *, merge: bool) -> None:
    statement = ""  # display_statement(parsed.text), made when a finding needs it (most statements: none)
    found: list[Finding] = []
    if parsed.error is not None:
        statement = display_statement(parsed.text)
        found.append(syntax_error.finding(parsed.error, migration=migration.name, file=migration.path,
                                          line=parsed.line, statement=statement))
    else:
        stmt = Statement(node=parsed.node, text=parsed.text, line=parsed.line, migration=migration.name,
                         file=migration.path)
        for rule in _rules_for(parsed.node):
            for hit in rule.check(stmt, ctx):
                if not statement:
                    statement = display_statement(parsed.text)
                found.append(Finding(
                    rule=rule.ID, category=hit.category or rule.CATEGORY, severity=hit.severity,
                    message=hit.message, suggestion=hit.suggestion,
                    table=hit.table.display if hit.table is not None else None,
                    context=hit.context, migration=migration.name, file=migration.path, line=parsed.line,
                    statement=statement,
                ))
        ctx.state.observe(parsed.node)
    if found:  # most statements: none
        kept: list[Finding] = []
        for finding in found:
            reason = _waiver(finding, parsed.directives, ignores)
            if reason is None:
                kept.append(finding)
            else:
                result.waived.append(replace(finding, waived_reason=reason))
        # Waived first, then merged: a reasoned ignore of any one rule still takes exactly that one out.
        result.findings.extend(merge_statement(kept) if merge else kept)
    if parsed.directives:
        result.findings.extend(ignore_without_reason.directive_findings(
            parsed.directives, migration=migration.name, file=migration.path,
            statement=statement or display_statement(parsed.text)))


def _dropped_tables(parsed_set: Sequence[tuple[Migration, list[ParsedStatement]]]) -> frozenset[QualifiedName]:
    """Every table a DROP TABLE of the set drops: a lock taken on it before is moot."""
    return frozenset(
        table_from_names(names)
        for _, statements in parsed_set for parsed in statements
        if isinstance(parsed.node, ast.DropStmt) and parsed.node.removeType == enums.ObjectType.OBJECT_TABLE
        for names in parsed.node.objects or ()
    )


def _waiver(finding: Finding, directives: Sequence[Directive], ignores: Sequence[IgnoreEntry]) -> str | None:
    """The reason ``finding`` is waived, or None when nothing waives it.

    An ignore only counts with a reason: a bare ignore would let anyone silence --fail-on
    without leaving a trace a reviewer can judge (ignore-without-reason reports it instead).
    """
    for directive in directives:
        if directive.rule == finding.rule and directive.reason:
            return directive.reason
    for entry in ignores:
        if entry.rule == finding.rule and entry.reason and entry.migration in (None, finding.migration):
            return entry.reason
    return None
