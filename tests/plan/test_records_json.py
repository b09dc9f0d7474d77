"""Records read back from their JSON documents: ``from_json`` is the inverse of ``to_json``."""

from __future__ import annotations

import json

import pytest

from pgwarden.records import (
    Category,
    Check,
    Finding,
    Migration,
    MigrationStatus,
    PlanReport,
    Severity,
    StepResult,
)


def _finding(severity: Severity = Severity.HIGH, **changes: object) -> Finding:
    values: dict[str, object] = dict(
        rule="require-concurrent-index", category=Category.BLOCKING_LOCK, severity=severity,
        message="CREATE INDEX blocks writes", suggestion="CREATE INDEX CONCURRENTLY", migration="0002_x",
        file="migrations/0002_x.sql", line=3, statement="CREATE INDEX i ON t (c)", table="public.t",
        context={"rows": 60000, "bytes": 4358144},
    )
    values.update(changes)
    return Finding(**values)  # type: ignore[arg-type]


def _through_json(document: dict) -> dict:
    """As the document goes through a file: serialised and parsed again."""
    return json.loads(json.dumps(document))


def test_migration_round_trip() -> None:
    migration = Migration(name="0002_x", path="migrations/0002_x.sql", status=MigrationStatus.EDITED)
    assert Migration.from_json(_through_json(migration.to_json())) == migration
    assert Migration.from_json({"name": "a", "path": "a.sql"}).status is MigrationStatus.PENDING


def test_finding_round_trip() -> None:
    finding = _finding()
    assert Finding.from_json(_through_json(finding.to_json())) == finding
    config = _finding(Severity.LOW, migration=None, file=None, line=None, statement=None, table=None, context={})
    assert Finding.from_json(_through_json(config.to_json())) == config


def test_finding_keys_that_may_be_null_may_be_missing() -> None:
    finding = Finding.from_json({"rule": "r", "category": "other", "severity": "info", "message": "m",
                                 "suggestion": "s"})
    assert (finding.file, finding.line, finding.statement, finding.context) == (None, None, None, {})


def test_check_and_step_result_round_trip() -> None:
    check = Check("rows of public.users", ok=False, detail="3 of 5 rows", warning=True)
    assert Check.from_json(_through_json(check.to_json())) == check
    step = StepResult("verify", ok=False, summary="1 check failed", duration_s=1.25, checks=[check],
                      details={"backup_id": "20260101T000000Z-ab12cd", "row_counts": [{"table": "t", "before": 1}]})
    document = _through_json(step.to_json())
    assert StepResult.from_json(document) == step
    assert StepResult.from_json(document).to_json() == document


def test_a_failure_document_reads_as_a_failed_result_keeping_the_error() -> None:
    document = {"version": 1, "step": "deploy", "ok": False, "exit_code": 4,
                "error": {"kind": "refused", "message": "no verified backup of shop", "hint": "run backup first"}}
    result = StepResult.from_json(document)
    assert (result.step, result.ok, result.summary) == ("deploy", False, "no verified backup of shop")
    assert result.details == {"exit_code": 4, "error": document["error"]}


@pytest.mark.parametrize(
    ("fail_on", "severities"),
    [
        ("high", [Severity.HIGH, Severity.LOW]),  # blocked
        ("high", [Severity.MEDIUM]),  # not blocked
        ("critical", [Severity.CRITICAL]),
        ("never", [Severity.CRITICAL, Severity.INFO]),
        ("high", []),
    ],
)
def test_plan_report_round_trip(fail_on: str, severities: list[Severity]) -> None:
    report = PlanReport(
        migrations=[Migration("0001_a", "m/0001_a.sql", MigrationStatus.APPLIED), Migration("0002_x", "m/0002_x.sql")],
        findings=[_finding(s, line=i) for i, s in enumerate(severities)], fail_on=fail_on,
    )
    document = _through_json(report.to_json())
    again = PlanReport.from_json(document)
    assert again == report
    assert again.to_json() == document


def test_plan_report_reads_the_threshold_it_was_judged_by() -> None:
    """summary.fail_on comes back as it was, also when it is not the nearest to the findings."""
    for fail_on, severities in (("low", [Severity.HIGH]), ("critical", [Severity.LOW]), ("never", [])):
        report = PlanReport(migrations=[], findings=[_finding(s) for s in severities], fail_on=fail_on)
        again = PlanReport.from_json(_through_json(report.to_json()))
        assert again.fail_on == fail_on
        assert again == report


def test_plan_report_without_fail_on_keeps_the_verdict() -> None:
    """A document written before summary.fail_on existed: the same blocked verdict and summary."""
    for fail_on, severities in (("low", [Severity.HIGH]), ("critical", [Severity.LOW])):
        report = PlanReport(migrations=[], findings=[_finding(s) for s in severities], fail_on=fail_on)
        document = _through_json(report.to_json())
        del document["summary"]["fail_on"]
        again = PlanReport.from_json(document)
        assert again.blocked == report.blocked
        assert again.findings == report.findings
