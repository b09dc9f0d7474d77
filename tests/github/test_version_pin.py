"""One version string: every ref to our own actions/workflows and the default image match the package."""

from __future__ import annotations

import re
from pathlib import Path

import pgwarden

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    ROOT / "action.yml",
    *sorted((ROOT / "actions").glob("*/action.yml")),
    *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
    *sorted((ROOT / "examples" / "workflows").glob("*.yml")),
]
OUR_REF = re.compile(r"pgwarden/pgwarden(?:/[\w./-]+)?@([\w.]+)")
IMAGE = re.compile(r"ghcr\.io/pgwarden/pgwarden:([\w.]+)")
THIRD_PARTY = re.compile(r"uses:\s*(?!pgwarden/|\./)([\w.-]+/[\w./-]+)@(\S+)(.*)")


def test_every_reference_to_pgwarden_carries_the_package_version() -> None:
    want_tag, want_image = f"v{pgwarden.__version__}", pgwarden.__version__
    seen = 0
    for path in FILES:
        text = path.read_text()
        for ref in OUR_REF.findall(text):
            assert ref == want_tag, f"{path.relative_to(ROOT)}: pgwarden/pgwarden@{ref}, expected @{want_tag}"
            seen += 1
        for tag in IMAGE.findall(text):
            assert tag == want_image, f"{path.relative_to(ROOT)}: image tag {tag}, expected {want_image}"
    assert seen >= 10


def test_third_party_actions_are_pinned_by_full_sha_with_a_version_comment() -> None:
    for path in FILES:
        for name, ref, rest in THIRD_PARTY.findall(path.read_text()):
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.relative_to(ROOT)}: {name}@{ref} is not a full SHA"
            assert re.search(r"#\s*v\d", rest), f"{path.relative_to(ROOT)}: {name}@{ref} needs a '# vX.Y' comment"


def test_actions_never_paste_expressions_into_scripts() -> None:
    """Every ${{ }} reaches a script through env:, never inside run: text."""
    for path in FILES:
        lines = path.read_text().splitlines()
        in_run = False
        indent = 0
        for number, line in enumerate(lines, 1):
            stripped = line.lstrip()
            if in_run and stripped and len(line) - len(stripped) <= indent:
                in_run = False
            if re.match(r"(- )?run:\s*\S", stripped):  # a step's script (not defaults.run)
                in_run = True
                indent = len(line) - len(stripped)
                assert "${{" not in stripped, f"{path.relative_to(ROOT)}:{number}: expression in run:"
                continue
            if in_run:
                assert "${{" not in line, f"{path.relative_to(ROOT)}:{number}: expression in run:"
