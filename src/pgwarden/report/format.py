"""The small pieces every markdown and text sink shares: escaping, icons, sizes.

One of each, so the PR comment, ``plan --format markdown`` and the step summaries escape the
same way and say the same thing: a table cell (:func:`cell`), an inline code span
(:func:`code`), a fenced block (:func:`fenced`), HTML text (:func:`html`), the severity
and outcome icons. Sizes are :func:`pgwarden.units.format_bytes` and durations
:func:`pgwarden.durations.format_duration`, shared with the CLI, the log and the risk messages.
"""

from __future__ import annotations

import re

from pgwarden import __version__
from pgwarden.errors import ErrorReport
from pgwarden.records import Severity

#: The documentation of the release that wrote the report (rule pages, setup guides).
DOCS_BASE = f"https://github.com/pgwarden/pgwarden/blob/v{__version__}/docs"

SEVERITY_ICON = {
    Severity.CRITICAL: "🟥",
    Severity.HIGH: "🟧",
    Severity.MEDIUM: "🟨",
    Severity.LOW: "🟦",
    Severity.INFO: "⬜",
}

#: A step's outcome as GitHub reports it (plus our own ``pending`` and ``blocked``).
OUTCOME_ICON = {
    "success": "✅",
    "failure": "❌",
    "skipped": "⏭️",
    "cancelled": "🚫",
    "pending": "⏳",
    "blocked": "⛔",
}
UNKNOWN_ICON = "❔"


def rule_url(rule: str) -> str:
    """The rule's documentation page (problem, solution per tool) for this version."""
    return f"{DOCS_BASE}/rules/{rule}.md"


def docs_url(page: str, anchor: str = "") -> str:
    return f"{DOCS_BASE}/{page}" + (f"#{anchor}" if anchor else "")


def rule_link(rule: str) -> str:
    """The rule id as a code span linking to its page (safe in a table cell)."""
    return f"[{code(rule, in_table=True)}]({rule_url(rule)})"


def details(summary: str, body: list[str]) -> list[str]:
    """A collapsed block; ``summary`` is HTML (escape text with :func:`html`), ``body`` markdown lines."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def outcome_icon(outcome: str) -> str:
    return OUTCOME_ICON.get(outcome, UNKNOWN_ICON)


def check_icon(ok: bool, warning: bool = False) -> str:
    """A check passed, failed, or failed as a warning only (which does not fail the step)."""
    return "✅" if ok else ("⚠️" if warning else "❌")


def clip(text: str, limit: int | None) -> str:
    """At most ``limit`` characters, an ellipsis marking a cut."""
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def one_line(value: object) -> str:
    """The text with every run of white space (newlines too) folded to one space."""
    return " ".join(str("" if value is None else value).split())


def html(text: str) -> str:
    """Text that GitHub shows as written, never as HTML (``<b>`` stays visible, ``&lt;`` too)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(value: object, limit: int | None = None) -> str:
    """Safe inside a table cell: one line, clipped to ``limit``, no raw HTML, pipes escaped."""
    return html(clip(one_line(value), limit)).replace("|", "\\|")


def code(value: object, *, in_table: bool = False) -> str:
    """An inline code span showing ``value`` literally, backticks and all.

    The fence is one backtick longer than the longest run inside (CommonMark), with a space of
    padding where the text starts or ends with a backtick. In a table cell GitHub splits on
    pipes before it reads code spans, so there a pipe is escaped (and shown without the backslash).
    """
    text = one_line(value)
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    span = f"{fence}{pad}{text}{pad}{fence}"
    return span.replace("|", "\\|") if in_table else span


def fenced(text: str, info: str = "") -> list[str]:
    """A fenced code block (as lines) that no backtick run inside the text can close early."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [f"{fence}{info}", text, fence]


def _longest_backtick_run(text: str) -> int:
    return max((len(m.group(0)) for m in re.finditer(r"`+", text)), default=0)


def error_text(error: ErrorReport, limit: int | None = None) -> str:
    """A failure or refusal in one line: ``**refused** (exit code 4): message — **hint:** hint``.

    The PR comment and the step summary both say it this way.
    """
    text = f"**{error.kind}** (exit code {error.exit_code}): {cell(error.message, limit)}"
    return text + (f" — **hint:** {cell(error.hint, limit)}" if error.hint else "")
