"""The one set of markdown escapes, icons and sizes every report shares (report/format.py)."""

from __future__ import annotations

import pytest

from pgwarden.report.format import cell, clip, code, fenced, html
from pgwarden.units import format_bytes


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (4358144, "4.2 MiB"), (3 * 1024**3, "3.0 GiB"),
     (5 * 1024**4, "5.0 TiB"), (2 * 1024**5, "2048.0 TiB")],
)
def test_sizes_are_in_binary_units(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_a_cell_is_one_line_without_html_or_pipes() -> None:
    assert cell("a | b\n<b>x</b> & y") == "a \\| b &lt;b&gt;x&lt;/b&gt; &amp; y"
    assert cell(None) == ""
    assert cell("x" * 10, 5) == "xxxx…"
    assert clip("abc", None) == "abc" and html("<") == "&lt;"


def test_a_code_span_shows_backticks_and_pipes_literally() -> None:
    assert code("users") == "`users`"
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("a|b", in_table=True) == "`a\\|b`" and code("a|b") == "`a|b`"
    assert code("two\nlines") == "`two lines`"


def test_a_fence_cannot_be_closed_by_the_text() -> None:
    assert fenced("select 1", "sql") == ["```sql", "select 1", "```"]
    assert fenced("a ```` b")[0] == "`````"
