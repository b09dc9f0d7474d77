"""``plan --format sarif``: SARIF 2.1.0 for GitHub code scanning.

One run, one rule descriptor per rule that fired (its description and its safe alternative as
help), one result per finding with a physical location; a finding waived with a reason
(``risk.ignore`` or an inline directive) is a result with a ``suppressions`` entry carrying
that reason, so code scanning lists it as dismissed instead of dropping it. GitHub needs a location on every
result, so a finding about the configuration points at the config file. Findings in SQL that
a tool rendered from Python/PHP (Alembic, Laravel) point at the migration file without a line,
since the SQL line is not a line of that file.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pgwarden import __version__
from pgwarden.records import Finding, PlanReport, Severity
from pgwarden.report.findings import line_in_file
from pgwarden.report.rehearsal import plan_summary
from pgwarden.risk.rule import Rule
from pgwarden.risk.rules import ALL_RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
#: GitHub sorts and filters code-scanning alerts by this (0.1-10).
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
def render_sarif(report: PlanReport, *, config_file: str = "pgwarden.yml") -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    everything = [*report.findings, *report.waived]
    rule_ids: list[str] = []
    for finding in everything:
        if finding.rule not in rule_ids:
            rule_ids.append(finding.rule)
    known = {rule.ID: rule for rule in ALL_RULES}
    rules = [_rule_descriptor(rule_id, everything, known.get(rule_id)) for rule_id in rule_ids]
    results = [_result(f, rule_ids.index(f.rule), config_file) for f in everything]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "pgwarden",
                "semanticVersion": __version__,
                "version": __version__,
                "rules": rules,
            }
        },
        "automationDetails": {"id": "pgwarden/plan/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if report.rehearsal is not None:
        # Its findings are results above; the rehearsal's own figures ride along in the run's property bag.
        run["properties"] = {"rehearsal": {"summary": plan_summary(report), **report.rehearsal.to_json(),
                                           "max_lock_s": report.rehearsal_max_lock_s}}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [run],
    }


def _rule_descriptor(rule_id: str, findings: list[Finding], rule: Rule | None) -> dict[str, Any]:
    """The rule's summary and safe alternative from its module; a finding's own for an unknown id."""
    example = next(f for f in findings if f.rule == rule_id)
    summary = _rule_summary(rule) or example.message
    help_text = (rule.SUGGESTION if rule is not None else "") or example.suggestion
    doc = f"docs/rules/{rule_id}.md"
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "help": {
            "text": f"{help_text}\n\nSee {doc} in the pgwarden documentation.",
            "markdown": f"**Safe alternative:** {help_text}\n\nSee `{doc}` in the pgwarden documentation.",
        },
        "defaultConfiguration": {"level": _LEVEL[example.severity]},
        "properties": {
            "tags": ["database", "migration", example.category.value],
            "precision": "high",
            "security-severity": _SECURITY_SEVERITY[max(f.severity for f in findings if f.rule == rule_id)],
        },
    }


def _rule_summary(rule: Rule | None) -> str | None:
    """The first line of the rule module's docstring, ``<id>: <what it finds>``, without the id."""
    if rule is None or not rule.__doc__:
        return None
    first = rule.__doc__.strip().splitlines()[0]
    _, _, text = first.partition(": ")
    return (text or first).strip() or None


def _result(finding: Finding, index: int, config_file: str) -> dict[str, Any]:
    file = finding.file or config_file
    location: dict[str, Any] = {"artifactLocation": {"uri": file.replace("\\", "/"), "uriBaseId": "%SRCROOT%"}}
    line = line_in_file(finding)
    if line is not None:
        location["region"] = {"startLine": max(1, line)}
    message = finding.message
    if finding.suggestion:
        message += f"\n\nSafe alternative: {finding.suggestion}"
    fingerprint = hashlib.sha256(
        "\0".join([finding.rule, finding.migration or "", finding.statement or "", finding.table or ""]).encode()
    ).hexdigest()
    properties: dict[str, Any] = {"severity": finding.severity.value, "category": finding.category.value}
    for key in ("migration", "table", "statement"):
        value = getattr(finding, key)
        if value:
            properties[key] = value
    if finding.context:
        properties["context"] = {k: v for k, v in finding.context.items() if isinstance(v, (str, int, float, bool))}
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _LEVEL[finding.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {"pgwardenFinding/v1": fingerprint},
        "properties": properties,
    }
    if finding.waived_reason is not None:
        # Code scanning shows a suppressed result as dismissed, with the reason as its justification.
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": finding.waived_reason}]
    return result
