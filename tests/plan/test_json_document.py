"""report.json_document: the plan's JSON text is the same data as json.dumps, one item per line."""

from __future__ import annotations

import datetime as dt
import json

from pgwarden.report.json_document import document_text


def test_same_data_as_json_dumps() -> None:
    document = {
        "version": 1, "base": None, "empty": [], "notes": ["é ✓", 'a "quoted" \\ line\nnext'],
        "findings": [{"rule": "x", "context": {"merged": [{"k": 1.5}], "also": ""}}, {"rule": "y"}],
        "summary": {"counts": {"high": 2}, "blocked": False}, "when": dt.date(2026, 12, 2), "pair": ("a", 1),
    }
    text = document_text(document)
    assert json.loads(text) == json.loads(json.dumps(document, default=str))
    assert "é ✓" in text  # non-ASCII kept, as plan always wrote it


def test_one_line_per_key_and_per_item_of_a_top_level_list() -> None:
    text = document_text({"a": 1, "b": [], "c": [1, {"x": [2, 3]}], "d": {"k": [1]}})
    assert text.splitlines() == [
        "{",
        '  "a": 1,',
        '  "b": [],',
        '  "c": [',
        "    1,",
        '    {"x": [2, 3]}',
        "  ],",
        '  "d": {"k": [1]}',
        "}",
    ]
    assert document_text({}) == "{\n}" and json.loads(document_text({})) == {}
