"""Every table of the PR comment fits GitHub's ~880 px comment column (no column cut off at the right).

The comment is rendered as GitHub renders it (cmark-gfm) and each table's min-content width is
measured in a real font (see tests/github/comment_width.py for the model and its assumptions).
The cases are a Prisma project's (long migration names, an S3 store): the comment of each state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.github import comment_cases as cases
from tests.github.comment_width import COMMENT_WIDTH_PX, measured_with, table_widths

#: The findings table as the comment had it before (issue 11): a path and a table column of their own.
OLD_FINDINGS_TABLE = f"""
| Severity | Rule | Where | Table | Finding |
|---|---|---|---|---|
| 🟧 high | `require-concurrent-index` | prisma/migrations/{cases.INDEX}/migration.sql:1 | Post | Builds an index |
"""


@pytest.mark.parametrize("state", ["blocked", "awaiting", "deployed", "failed"])
def test_every_table_fits_the_comment_column(tmp_path: Path, state: str) -> None:
    text = cases.render(tmp_path, state)
    tables = table_widths(text)
    assert tables, "the comment has tables to measure"
    too_wide = [t for t in tables if t.width > COMMENT_WIDTH_PX]
    assert not too_wide, "\n".join(
        f"{t.width:.0f}px > {COMMENT_WIDTH_PX}px ({measured_with()}): {t.widest_words()}" for t in too_wide)
    assert all(t.columns <= 4 for t in tables), [t.header for t in tables]


def test_the_measure_sees_the_old_table_overflow() -> None:
    """The measure itself: the findings table the comment used to have is wider than the column."""
    (table,) = table_widths(OLD_FINDINGS_TABLE)
    assert table.columns == 5
    assert table.width > COMMENT_WIDTH_PX, table.widest_words()
