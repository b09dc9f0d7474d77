"""`pgwarden plan` end to end through the CLI: formats, exit codes, streams, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def sql_files(tmp_path: Path) -> Path:
    (tmp_path / "0001_safe.sql").write_text("CREATE TABLE widgets (id bigint PRIMARY KEY);\n")
    (tmp_path / "0002_drop.sql").write_text("-- remove the legacy table\nDROP TABLE legacy_orders;\n")
    return tmp_path


def test_json_to_stdout_and_exit_codes(cli, sql_files: Path) -> None:
    safe = cli("plan", "--format", "json", "0001_safe.sql", cwd=sql_files, env={"DATABASE_URL": ""})
    assert safe.code == 0, safe.stderr
    doc = json.loads(safe.stdout)
    assert doc["summary"] == {"max_severity": None, "blocked": False, "counts": {}, "fail_on": "high"}
    assert doc["migrations"] == [{"name": "0001_safe", "path": "0001_safe.sql", "status": "pending",
                                  "sql": "CREATE TABLE widgets (id bigint PRIMARY KEY);\n"}]
    assert "No risks found" in safe.stderr

    risky = cli("plan", "--format", "json", "0001_safe.sql", "0002_drop.sql", cwd=sql_files)
    assert risky.code == 3
    doc = json.loads(risky.stdout)
    assert doc["summary"]["blocked"] is True
    finding = next(f for f in doc["findings"] if f["rule"] == "drop-table")
    assert finding["file"] == "0002_drop.sql" and finding["line"] == 2 and finding["migration"] == "0002_drop"

    assert cli("plan", "--format", "json", "--fail-on", "never", "0002_drop.sql", cwd=sql_files).code == 0


def test_missing_path_and_bad_fail_on_exit_2(cli, sql_files: Path) -> None:
    missing = cli("plan", "nothere.sql", cwd=sql_files)
    assert missing.code == 2 and "nothere.sql" in missing.stderr
    bad = cli("plan", "--fail-on", "severe", "0001_safe.sql", cwd=sql_files)
    assert bad.code == 2 and "severe" in bad.stderr


def test_fail_on_from_config_file(cli, sql_files: Path) -> None:
    (sql_files / "pgwarden.yml").write_text("risk:\n  fail_on: never\n")
    assert cli("plan", "0002_drop.sql", cwd=sql_files).code == 0
    # The flag wins over the file.
    assert cli("plan", "--fail-on", "low", "0002_drop.sql", cwd=sql_files).code == 3


def test_text_report_on_stdout(cli, sql_files: Path) -> None:
    result = cli("plan", "0002_drop.sql", cwd=sql_files)
    assert "drop-table" in result.stdout and "0002_drop.sql:2" in result.stdout
    assert "Blocked" in result.stdout


def test_markdown_to_output_file(cli, sql_files: Path) -> None:
    result = cli("plan", "--format", "markdown", "--output", "out/plan.md", "0002_drop.sql", cwd=sql_files)
    assert result.code == 3
    text = (sql_files / "out/plan.md").read_text()
    assert text.startswith("## ⛔ pgwarden plan: Blocked")
    # The SQL and the fix collapsed; no runbook checklist (the final PR comment has it).
    assert "<details><summary>SQL (" in text and "Migration contents reviewed" not in text
    assert result.stdout == ""


def test_sarif_is_structurally_valid(cli, sql_files: Path) -> None:
    result = cli("plan", "--format", "sarif", "0001_safe.sql", "0002_drop.sql", cwd=sql_files)
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "pgwarden"
    for rule in rules:
        assert rule["id"] and rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note") and res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "0002_drop.sql" and loc["region"]["startLine"] == 2


def test_github_annotations_go_to_stdout_with_the_text_report(cli, sql_files: Path) -> None:
    result = cli("plan", "0002_drop.sql", cwd=sql_files, env={"GITHUB_ACTIONS": "true"})
    line = next(x for x in result.stdout.splitlines() if x.startswith("::error "))
    assert line.startswith("::error file=0002_drop.sql,line=2,title=pgwarden drop-table (")
    assert "::" in line[8:]
    assert not any(x.startswith("::") for x in result.stderr.splitlines())


def test_no_annotations_when_stdout_carries_a_document(cli, sql_files: Path, tmp_path: Path) -> None:
    result = cli("plan", "--format", "json", "0002_drop.sql", cwd=sql_files, env={"GITHUB_ACTIONS": "true"})
    json.loads(result.stdout)  # one clean document, nothing else
    assert "::error" not in result.output  # the actions annotate once, through `pgwarden report step`
    out = tmp_path / "plan.json"
    result = cli("plan", "--format", "json", "--output", str(out), "0002_drop.sql", cwd=sql_files,
                 env={"GITHUB_ACTIONS": "true"})
    json.loads(out.read_text())
    assert any(x.startswith("::error ") for x in result.stdout.splitlines())


def test_help_has_an_example() -> None:
    proc = subprocess.run([sys.executable, "-m", "pgwarden", "plan", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "example:" in proc.stdout and "pgwarden plan --format json" in proc.stdout


def test_live_plan_never_prints_the_password(secret_db, sql_files: Path) -> None:
    secret_db.execute("create table legacy_orders (id int)")
    secret_db.execute("insert into legacy_orders select generate_series(1, 100)")
    password = secret_db.url.split(":")[2].split("@")[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pgwarden", "plan", "--format", "markdown", "0002_drop.sql"],
        cwd=sql_files, capture_output=True, text=True,
        env={"DATABASE_URL": secret_db.url, "PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true"},
    )
    assert proc.returncode == 3, proc.stderr
    assert password not in proc.stdout + proc.stderr
    assert "Reviewed against live data from" in proc.stdout


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_a_password_in_a_migration_leaves_a_valid_redacted_document(cli, tmp_path: Path, fmt: str) -> None:
    # Redacting the finished text let the password=... pattern swallow the string's closing quote:
    # the report on stdout (and the artifact the workflow uploads) was no longer JSON.
    (tmp_path / "0001_link.sql").write_text(
        "CREATE SERVER replica FOREIGN DATA WRAPPER postgres_fdw "
        "OPTIONS (host 'postgresql://app:s3cretpass@replica/app');\n"
        "SELECT dblink_connect('reporting', 'host=replica dbname=app password=hunter2secret');\n")
    out = tmp_path / "report.json"
    for args in ([], ["--output", str(out)]):
        run = cli("plan", "--format", fmt, "0001_link.sql", *args, cwd=tmp_path, env={"DATABASE_URL": ""})
        assert run.code in (0, 3), run.stderr
        text = out.read_text(encoding="utf-8") if args else run.stdout
        json.loads(text)
        assert "hunter2secret" not in text and "s3cretpass" not in text
        assert fmt == "sarif" or "password=********" in text  # SARIF carries findings, not the SQL
