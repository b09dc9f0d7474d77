"""Reporters: markdown size limit, checklists, annotation escaping, text."""

from __future__ import annotations

import pytest

from pgwarden.records import Category, Finding, Migration, PlanReport, Severity
from pgwarden.report.annotations import annotation_lines, escape_data, escape_property
from pgwarden.report.checklist import ITEM_IDS, render_checklists
from pgwarden.report.markdown import COMMENT_LIMIT, findings_markdown, render_markdown
from pgwarden.report.sarif import render_sarif
from pgwarden.report.text import render_text
from pgwarden.risk.rules import failed_migration


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
    assert "Runbook checklist" not in text  # in the final PR comment only
    assert "\\|" in text and "<b>" not in text  # cells are escaped


def test_small_markdown_is_complete() -> None:
    report = PlanReport(migrations=[Migration(name="m000", path="m.sql")], findings=[finding(0, Severity.HIGH)])
    text = render_markdown(report)
    assert "too long" not in text
    assert text.count("<details>") == 1  # the finding's fix (no SQL known, no checklist in a plan)


def test_checklists_tick_only_what_was_done() -> None:
    text = render_checklists({"review": "plan: 2 findings", "backup-created": "backup 2024-01-01 verified"},
                             collapsed=False)
    assert "- [x] Migration contents reviewed — plan: 2 findings" in text
    assert "- [x] Backup created and verified — backup 2024-01-01 verified" in text
    assert "- [ ] Maintenance window scheduled" in text
    assert text.count("- [x]") == 2 and text.count("- [") == len(ITEM_IDS)
    assert "After the migration" in text and "マイグレーション" not in text  # English headings only
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


def _live(finding_: Finding) -> Finding:
    finding_.context = {"rows": 60000, "bytes": 4358144, "duration": "seconds"}
    return finding_


def test_live_facts_read_the_same_in_text_and_markdown() -> None:
    """One wording of a finding's context; sizes in binary units (the text said "4.2 MB" for 4358144 bytes)."""
    report = PlanReport(migrations=[Migration(name="m001", path="m.sql")],
                        findings=[_live(finding(1, Severity.HIGH, line=3))])
    assert "  context: ~60,000 rows, 4.2 MiB, duration: seconds" in render_text(report)
    assert "Context: ~60,000 rows, 4.2 MiB, duration: seconds" in render_markdown(report)


def test_markdown_findings_point_at_the_same_place_as_the_text() -> None:
    rendered = finding(1, Severity.MEDIUM, file="alembic/versions/abc_x.py", line=7)
    config = Finding(rule="ignore-without-reason", category=Category.OTHER, severity=Severity.LOW,
                     message="risk.ignore entry has no reason", suggestion="Add a reason.")
    report = PlanReport(migrations=[], findings=[rendered, config])
    markdown, text = render_markdown(report), render_text(report)
    for where in ("alembic/versions/abc_x.py (line 7 of the rendered SQL)", "(configuration)"):
        assert where in text and where in markdown


def test_the_plan_report_renders_findings_with_the_shared_function() -> None:
    report = PlanReport(migrations=[Migration(name="m001", path="m.sql")],
                        findings=[finding(1, Severity.HIGH, line=3)])
    grouped = "\n".join(findings_markdown(report.migrations, report.findings))
    assert grouped.startswith("#### `m001`\n")
    shared = "\n".join(findings_markdown(report.migrations, report.findings, grouped=False))
    assert shared in grouped and shared in render_markdown(report)
    assert "```sql\nALTER TABLE t1 DROP COLUMN c;" in shared


def test_sarif_describes_every_rule_from_its_module() -> None:
    """Statement rules and the rules the plan step raises alike (failed-migration has no parse tree)."""
    report = PlanReport(migrations=[], findings=[
        finding(1, Severity.HIGH),
        Finding(rule=failed_migration.ID, category=failed_migration.CATEGORY, severity=Severity.CRITICAL,
                message="0003 failed", suggestion="Resolve it first.", migration="m003", file="m003.sql"),
        Finding(rule="not-a-rule", category=Category.OTHER, severity=Severity.LOW, message="its own words",
                suggestion="its own help"),
    ])
    rules = {r["id"]: r for r in render_sarif(report)["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["drop-column"]["shortDescription"]["text"].startswith("ALTER TABLE ... DROP COLUMN")
    assert rules["failed-migration"]["shortDescription"]["text"].startswith("a migration failed in an earlier")
    assert rules["failed-migration"]["help"]["text"].startswith(failed_migration.SUGGESTION)
    assert rules["not-a-rule"]["shortDescription"]["text"] == "its own words"
    assert rules["not-a-rule"]["help"]["text"].startswith("its own help")
