"""GitHub workflow-command annotations (``::error file=...,line=...,title=...::message``).

Escaping follows GitHub's runner: in the message ``%``, CR and LF are percent-encoded; in a
property value ``:`` and ``,`` are too. Findings at or above ``fail_on`` are errors, the
others warnings (medium) or notices (low, info). The runner reads workflow commands from a
step's stdout and stderr alike; the CLI writes them to stderr so that a JSON or SARIF
document on stdout stays a clean document.
"""

from __future__ import annotations

from pgwarden.pipeline.plan import PlanReport
from pgwarden.records import Finding, Severity
from pgwarden.report.findings import by_severity, line_in_file

#: GitHub shows only the first few annotations of each kind per step; more is noise in the log.
MAX_ANNOTATIONS = 50


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_level(finding: Finding, fail_on: str) -> str:
    if fail_on != "never" and finding.severity >= Severity(fail_on):
        return "error"
    return "warning" if finding.severity >= Severity.MEDIUM else "notice"


def annotation_lines(report: PlanReport, *, limit: int = MAX_ANNOTATIONS) -> list[str]:
    """One workflow command per finding, highest first."""
    lines = []
    for finding in by_severity(report.findings)[:limit]:
        properties = []
        if finding.file:
            properties.append(f"file={escape_property(finding.file)}")
            line = line_in_file(finding)
            if line is not None:
                properties.append(f"line={line}")
        title = f"pgwarden {finding.rule} ({finding.severity.value})"
        properties.append(f"title={escape_property(title)}")
        message = finding.message + (f"\nSafe alternative: {finding.suggestion}" if finding.suggestion else "")
        level = annotation_level(finding, report.fail_on)
        lines.append(f"::{level} {','.join(properties)}::{escape_data(message)}")
    return lines
