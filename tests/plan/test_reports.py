"""Reporters: markdown size limit, checklists, annotation escaping, text."""

from __future__ import annotations

import pytest

from pgwarden.records import Category, Finding, Migration, PlanReport, Severity
from pgwarden.report.annotations import annotation_lines, escape_data, escape_property
from pgwarden.report.checklist import ITEM_IDS, render_checklists
from pgwarden.report.markdown import COMMENT_LIMIT, render_markdown
from pgwarden.report.sarif import render_sarif
from pgwarden.report.text import render_text


def finding(i: int, severity: Severity, *, file: str = "m.sql", line: int | None = 1) -> Finding:
    return Finding(
        rule="drop-column", category=Category.DATA_LOSS, severity=severity,
        message=f"Drops column t{i}.c and every value in it | with a pipe <b>", suggestion="Expand/contract. " * 20,
        migration=f"m{i % 40:03d}", file=file, line=line, statement=f"ALTER TABLE t{i} DROP COLUMN c; -- " + "x" * 200,
        table=f"t{i}",
    )


def big_report(n: int = 3000) -> PlanReport:
    migrations = [Migration(name=f"m{i:03d}", path=f"db/m{i:03d}.sql") for i in range(40)]
    severities = [Severity.LOW, Severity.MEDIUM, Severity.HIGH]
    findings = [finding(i, severities[i % 3]) for i in range(n)]
    findings.append(finding(9999, Severity.CRITICAL))
    return PlanReport(migrations=migrations, findings=findings)


def test_markdown_truncates_under_the_comment_limit_keeping_the_worst() -> None:
    report = big_report()
    text = render_markdown(report, full_report="the `pgwarden-plan` artifact")
    assert len(text) <= COMMENT_LIMIT
    assert text.startswith(
        "## ⛔ pgwarden plan: Blocked: 1001 findings at or above high (3001 in all), highest critical"
    )
    assert "the `pgwarden-plan` artifact" in text and "highest of 3001 findings" in text
    assert "t9999" in text  # the critical one survives
    assert "🟦 low | `drop-column`" not in text  # the lowest go first
    assert "Runbook checklist" in text
    assert "\\|" in text and "<b>" not in text  # cells are escaped


def test_small_markdown_is_complete() -> None:
    report = PlanReport(migrations=[Migration(name="m000", path="m.sql")], findings=[finding(0, Severity.HIGH)])
    text = render_markdown(report)
    assert "too long" not in text
    assert text.count("<details>") == 2  # the finding + the checklist


def test_checklists_tick_only_what_was_done() -> None:
    text = render_checklists({"review": "plan: 2 findings", "backup-created": "backup 2024-01-01 verified"},
                             collapsed=False)
    assert "- [x] Migration contents reviewed — plan: 2 findings" in text
    assert "- [x] Backup created and verified — backup 2024-01-01 verified" in text
    assert "- [ ] Maintenance window scheduled" in text
    assert text.count("- [x]") == 2 and text.count("- [") == len(ITEM_IDS)
    assert "マイグレーション実行後チェックリスト" in text
    with pytest.raises(ValueError, match="unknown checklist item"):
        render_checklists(["reveiw"])
    only_after = render_checklists(["status"], phases=["after"])
    assert "Before the migration" not in only_after and "- [x] Migration status checked" in only_after


def test_annotation_escaping() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    report = PlanReport(
        migrations=[], fail_on="high",
        findings=[finding(1, Severity.HIGH, file="dir,x/m:1.sql", line=4),
                  finding(2, Severity.MEDIUM, file="alembic/versions/abc_x.py", line=7),
                  finding(3, Severity.LOW)],
    )
    lines = annotation_lines(report)
    assert lines[0].startswith("::error file=dir%2Cx/m%3A1.sql,line=4,title=pgwarden drop-column (high)::")
    assert "\n" not in lines[0] and "%0ASafe alternative" in lines[0]
    # SQL rendered from a Python file: annotate the file, not a line that does not exist in it.
    assert lines[1].startswith("::warning file=alembic/versions/abc_x.py,title=")
    assert lines[2].startswith("::notice ")


def test_sarif_rendered_sql_has_no_region_and_config_findings_point_at_config() -> None:
    report = PlanReport(migrations=[], findings=[
        finding(1, Severity.MEDIUM, file="alembic/versions/abc_x.py", line=7),
        Finding(rule="ignore-without-reason", category=Category.OTHER, severity=Severity.LOW,
                message="risk.ignore entry has no reason", suggestion="Add a reason."),
    ])
    results = render_sarif(report, config_file="pgwarden.yml")["runs"][0]["results"]
    assert "region" not in results[0]["locations"][0]["physicalLocation"]
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pgwarden.yml"


def test_text_report() -> None:
    report = PlanReport(migrations=[Migration(name="m001", path="m.sql")],
                        findings=[finding(1, Severity.HIGH, line=3)], database="app@db:5432/app")
    text = render_text(report)
    assert "HIGH     drop-column [data-loss]  m.sql:3" in text
    assert "live context from app@db:5432/app" in text
    assert text.rstrip().endswith("Resolve or justify them before deploying.")
