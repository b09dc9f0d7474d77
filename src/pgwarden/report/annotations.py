"""GitHub workflow-command annotations (``::error file=...,line=...,title=...::message``).

Escaping follows GitHub's runner: in the message ``%``, CR and LF are percent-encoded; in a
property value ``:`` and ``,`` are too. Findings at or above ``fail_on`` are errors, the
others warnings (medium) or notices (low, info). GitHub documents workflow commands as read
from a step's stdout, so ``pgwarden plan`` prints them there, and only when stdout does not
carry a JSON, SARIF or markdown document (text format, or ``--output`` given). Inside the
composite actions the annotations come from ``pgwarden report step`` instead, once, through
the same :func:`annotation_lines`.
"""

from __future__ import annotations

from pgwarden.records import Finding, PlanReport, Severity
from pgwarden.redact import redact
from pgwarden.report.findings import by_severity, line_in_file

#: GitHub shows only the first few annotations of each kind per step; more is noise in the log.
MAX_ANNOTATIONS = 50


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, file: str | None = None, line: int | None = None,
               title: str | None = None) -> str:
    """A ``::warning file=...::message`` workflow command, escaped so text cannot end it early."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line:
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level}" + (" " + ",".join(props) if props else "")
    return f"{head}::{escape_data(redact(message))}"


def annotation_level(finding: Finding, fail_on: str) -> str:
    if fail_on != "never" and finding.severity >= Severity(fail_on):
        return "error"
    return "warning" if finding.severity >= Severity.MEDIUM else "notice"


def annotation_lines(report: PlanReport, *, limit: int = MAX_ANNOTATIONS) -> list[str]:
    """One workflow command per finding, highest first."""
    lines = []
    for finding in by_severity(report.findings)[:limit]:
        message = finding.message + (f"\nSafe alternative: {finding.suggestion}" if finding.suggestion else "")
        lines.append(annotation(
            annotation_level(finding, report.fail_on), message, file=finding.file,
            line=line_in_file(finding) if finding.file else None,
            title=f"pgwarden {finding.rule} ({finding.severity.value})",
        ))
    return lines
