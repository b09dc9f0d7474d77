"""One version string everywhere a user or a runner reads it.

pyproject's version, the package's ``__version__``, the Dockerfile's ``PGWARDEN_VERSION`` (and the
label built from it), every ``pgwarden/pgwarden/...@v<version>`` ref, every
``ghcr.io/pgwarden/pgwarden:<version>[-node|-php]`` image tag in workflows, examples and docs, and
the release workflow that turns a ``v<version>`` tag into those image tags.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import pgwarden

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = [
    ROOT / "action.yml",
    *sorted((ROOT / "actions").glob("*/action.yml")),
    *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
    *sorted((ROOT / "examples" / "workflows").glob("*.yml")),
]
#: Everything a user copies from or a runner reads: workflows, examples, docs, the image recipe,
#: and the package source (a literal ref there would be a pin nobody bumps).
TEXT_SUFFIXES = {".yml", ".yaml", ".md", ".py", ".json", ".sh", ".toml", ""}
PINNED_FILES = sorted({
    *WORKFLOWS,
    ROOT / "README.md",
    ROOT / "Dockerfile",
    *(p for p in (ROOT / "docs").rglob("*") if p.is_file() and p.suffix == ".md"),
    *(p for p in (ROOT / "examples").rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES),
    *(p for p in (ROOT / "scripts").glob("*") if p.is_file()),
    *(ROOT / "src" / "pgwarden").rglob("*.py"),
})
OUR_REF = re.compile(r"pgwarden/pgwarden(?:/[\w./-]+)?@([\w.-]+)")
OUR_BLOB = re.compile(r"github\.com/pgwarden/pgwarden/(?:blob|tree)/(v[\d][\w.-]*)/")
IMAGE = re.compile(r"ghcr\.io/pgwarden/pgwarden:([\w.-]+)")
THIRD_PARTY = re.compile(r"uses:\s*(?!pgwarden/|\./)([\w.-]+/[\w./-]+)@(\S+)(.*)")
#: Image tag suffix per Dockerfile target (the target named ``pgwarden`` is the plain tag).
VARIANT_SUFFIX = {"pgwarden": "", "node": "-node", "php": "-php"}

VERSION = pgwarden.__version__


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _release() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())


def test_the_package_and_pyproject_agree() -> None:
    project = (ROOT / "pyproject.toml").read_text().split("[project]", 1)[1].split("\n[", 1)[0]
    versions = re.findall(r'^version\s*=\s*"([^"]+)"', project, re.M)
    assert versions == [VERSION], f"pyproject.toml [project] version {versions} vs pgwarden.__version__ {VERSION}"


def test_the_dockerfile_labels_the_image_with_the_package_version() -> None:
    text = _dockerfile()
    args = re.findall(r"^ARG PGWARDEN_VERSION=(\S+)", text, re.M)
    assert args, "Dockerfile: no `ARG PGWARDEN_VERSION=<version>`"
    assert set(args) == {VERSION}, f"Dockerfile: ARG PGWARDEN_VERSION={args}, expected {VERSION}"
    labels = re.findall(r'org\.opencontainers\.image\.version="?([^"\s\\]+)', text)
    assert labels, "Dockerfile: no org.opencontainers.image.version label"
    for label in labels:
        assert label in {"${PGWARDEN_VERSION}", "$PGWARDEN_VERSION", VERSION}, (
            f"Dockerfile: image.version label {label!r} is neither ${{PGWARDEN_VERSION}} nor {VERSION}"
        )


def test_every_reference_to_pgwarden_carries_the_package_version() -> None:
    want_tag = f"v{VERSION}"
    allowed_images = {VERSION + suffix for suffix in VARIANT_SUFFIX.values()}
    refs = images = 0
    for path in PINNED_FILES:
        text = path.read_text(errors="replace")
        for ref in OUR_REF.findall(text):
            assert ref == want_tag, f"{_rel(path)}: pgwarden/pgwarden@{ref}, expected @{want_tag}"
            refs += 1
        for ref in OUR_BLOB.findall(text):
            assert ref == want_tag, f"{_rel(path)}: github.com/pgwarden/pgwarden/blob/{ref}, expected {want_tag}"
        for tag in IMAGE.findall(text):
            assert tag in allowed_images, (
                f"{_rel(path)}: image tag ghcr.io/pgwarden/pgwarden:{tag}, expected one of {sorted(allowed_images)}"
            )
            images += 1
    assert refs >= 10 and images >= 3, (refs, images)


def test_every_image_variant_the_docs_name_is_a_dockerfile_target_the_release_publishes() -> None:
    targets = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", _dockerfile(), re.M | re.I))
    released = {
        v["target"]: v["suffix"] for v in _release()["jobs"]["publish"]["strategy"]["matrix"]["variant"]
    }
    assert released == VARIANT_SUFFIX, f"release.yml publishes {released}, expected {VARIANT_SUFFIX}"
    assert set(released) <= targets, f"release.yml builds targets {sorted(released)}; the Dockerfile has {targets}"
    checked = {v["target"] for v in _release()["jobs"]["check"]["strategy"]["matrix"]["variant"]}
    assert checked == set(released), "every published variant is smoke-tested first"
    used = {suffix for path in PINNED_FILES for tag in IMAGE.findall(path.read_text(errors="replace"))
            for suffix in VARIANT_SUFFIX.values() if tag == VERSION + suffix}
    assert used <= set(released.values())


def test_the_release_runs_on_version_tags_and_pushes_the_tags_the_workflows_reference() -> None:
    release = _release()
    on = release[True] if True in release else release["on"]  # PyYAML reads a bare `on:` as True
    assert on == {"push": {"tags": ["v*"]}}
    assert release["env"]["IMAGE"] == "ghcr.io/pgwarden/pgwarden"
    assert release["permissions"] == {}
    assert release["jobs"]["check"]["permissions"] == {"contents": "read"}
    assert release["jobs"]["publish"]["needs"] == "check"
    publish = release["jobs"]["publish"]
    meta = next(s for s in publish["steps"] if s.get("id") == "meta")["with"]
    assert meta["tags"] == "type=semver,pattern={{version}}"
    assert "latest=false" in meta["flavor"] and "suffix=${{ matrix.variant.suffix }}" in meta["flavor"]
    push = next(s for s in publish["steps"] if s.get("id") == "push")["with"]
    assert push["platforms"] == "linux/amd64,linux/arm64"
    assert push["provenance"] == "mode=max" and push["sbom"] is True
    assert push["target"] == "${{ matrix.variant.target }}"


def _tag_step() -> str:
    steps = _release()["jobs"]["check"]["steps"]
    return next(s for s in steps if s.get("id") == "version")["run"]


@pytest.mark.parametrize("tag, ok", [(f"v{VERSION}", True), ("v99.0.0", False)])
def test_the_release_refuses_a_tag_that_is_not_the_package_version(tmp_path: Path, tag: str, ok: bool) -> None:
    """The check job's first step, run as the runner would: bash, from the checkout, TAG set."""
    output = tmp_path / "output"
    env = {**os.environ, "TAG": tag, "GITHUB_OUTPUT": str(output)}
    proc = subprocess.run(["bash", "-e", "-c", _tag_step()], cwd=ROOT, env=env, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert output.read_text() == f"version={VERSION}\n"
    else:
        assert proc.returncode == 1
        assert f"::error::Tag {tag} does not match pyproject.toml's version {VERSION}" in proc.stdout
        assert not output.exists()


def test_third_party_actions_are_pinned_by_full_sha_with_a_version_comment() -> None:
    seen = 0
    for path in WORKFLOWS:
        for name, ref, rest in THIRD_PARTY.findall(path.read_text()):
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{_rel(path)}: {name}@{ref} is not a full SHA"
            assert re.search(r"#\s*v\d", rest), f"{_rel(path)}: {name}@{ref} needs a '# vX.Y' comment"
            seen += 1
    assert seen >= 10


def test_one_action_one_sha() -> None:
    """Two files pinning the same action at different SHAs would mean one was bumped and one forgotten."""
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for name, ref, rest in THIRD_PARTY.findall(path.read_text()):
            pins.setdefault(name, set()).add(f"{ref}{rest.strip()}")
    assert {name: refs for name, refs in pins.items() if len(refs) > 1} == {}


def test_actions_never_paste_expressions_into_scripts() -> None:
    """Every ${{ }} reaches a script through env:, never inside run: text."""
    for path in WORKFLOWS:
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
                assert "${{" not in stripped, f"{_rel(path)}:{number}: expression in run:"
                continue
            if in_run:
                assert "${{" not in line, f"{_rel(path)}:{number}: expression in run:"
