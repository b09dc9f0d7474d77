"""``plan --base REF``: what is pending, from git, when there is no database history to read.

A pull request's review usually runs without a database URL (fork PRs never get secrets). The
history it cannot read is replaced by what git knows: the migrations whose files were added or
changed between ``git merge-base REF HEAD`` and the working tree are pending; every other
migration the tool lists is taken as applied, so the tables it created are existing tables (of
unknown size) for the rules. A file that already existed at the merge-base and changed is an
applied migration edited afterwards (``edited-after-apply``).

:func:`read_base_diff` asks git (a child process, as read-only as git allows: no optional index
locks); :func:`split_by_diff` is the pure decision over the tool's listing;
:func:`pending_from_diff` puts them together with the tool.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pgwarden.children import die_with_parent
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.records import Finding, Migration, MigrationStatus
from pgwarden.risk.rules import edited_after_apply
from pgwarden.tools.base import MigrationTool

_HEX = re.compile(r"[0-9a-fA-F]{7,40}")
#: Generous: every command here reads local refs and one tree diff.
_GIT_TIMEOUT_S = 120.0
_FETCH_HINT = (
    "fetch the base first (git fetch origin <branch>); in GitHub Actions check out with "
    "actions/checkout's `fetch-depth: 0`"
)


@dataclass(frozen=True)
class BaseDiff:
    """The files that differ between the merge-base of ``ref`` and HEAD, and the working tree."""

    #: The ref as it resolved (``main``, or ``origin/main`` when ``main`` is not a local ref).
    ref: str
    merge_base: str
    short: str
    #: Absolute, resolved paths of files that did not exist at the merge-base (untracked ones too).
    added: frozenset[Path] = field(default_factory=frozenset)
    #: Absolute, resolved paths of files that existed at the merge-base and differ now.
    changed: frozenset[Path] = field(default_factory=frozenset)

    @property
    def label(self) -> str:
        """``origin/main@1a2b3c4``: the ref and the commit the diff starts from."""
        return f"{self.ref}@{self.short}"


@dataclass
class DiffSplit:
    """The tool's migrations seen through a :class:`BaseDiff`."""

    #: What the report lists: pending and edited migrations, in the tool's order.
    shown: list[Migration]
    pending: list[Migration]
    edited: list[Migration]


@dataclass
class DiffPending:
    """What ``plan --base`` found pending, and the edited-after-apply findings."""

    label: str
    shown: list[Migration]
    pending: list[Migration]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def pending_from_diff(tool: MigrationTool, base_dir: Path, base: str) -> DiffPending:
    """The tool's migrations with the history taken from git (see the module docstring).

    The pending ones get their SQL from the tool when its listing has none (Laravel and Alembic render
    it by running a command, asked only when something is pending). When that command fails (Laravel's
    ``--pretend`` needs a database), the migrations stay pending without SQL (sql-unavailable) and a
    note says why, rather than the review failing.
    """
    diff = read_base_diff(base, base_dir)
    split = split_by_diff(tool.migrations(None), diff, base_dir)
    found = DiffPending(diff.label, split.shown, split.pending,
                        [edited_after_apply.finding(m, tool=tool.name, since=diff.label) for m in split.edited])
    if any(m.sql is None for m in found.pending):
        try:
            rendered = {m.name: m for m in tool.pending(None)}
        except OperationFailed as exc:
            rendered = {}
            found.notes.append(f"{tool.name} could not render the pending migrations' SQL without a database "
                               f"({exc.message.splitlines()[0]}); give plan a database URL to review it.")
        found.pending = [replace(m, sql=rendered[m.name].sql) if m.name in rendered else m for m in found.pending]
        by_name = {m.name: m for m in found.pending}
        found.shown = [by_name.get(m.name, m) for m in found.shown]
    return found


def split_by_diff(listed: Sequence[Migration], diff: BaseDiff, base_dir: Path) -> DiffSplit:
    """Pending = the migrations whose file ``diff`` has as added; edited = as changed; else applied.

    A migration's ``path`` is relative to ``base_dir`` (the config's folder) or absolute.
    """
    split = DiffSplit(shown=[], pending=[], edited=[])
    for migration in listed:
        path = (base_dir / migration.path).resolve()
        if path in diff.added:
            migration = replace(migration, status=MigrationStatus.PENDING)
            split.pending.append(migration)
        elif path in diff.changed:
            migration = replace(migration, status=MigrationStatus.EDITED)
            split.edited.append(migration)
        else:
            continue
        split.shown.append(migration)
    return split


def read_base_diff(ref: str, cwd: Path) -> BaseDiff:
    """What changed since the merge-base of ``ref`` (or ``origin/<ref>``) and HEAD, in ``cwd``'s repository.

    Not a repository, an unknown ref, no common history (a shallow clone): ConfigError (exit 2)
    naming ``ref``.
    """
    if not ref or ref.startswith("-"):
        raise ConfigError(f"--base: expected a branch, tag or commit, got {ref!r}")
    if not cwd.is_dir():
        raise ConfigError(f"--base {ref}: {cwd} is not a folder")
    top = _git(ref, cwd, "rev-parse", "--show-toplevel", failure=f"{cwd} is not inside a git repository",
               hint="run plan in the repository's checkout, or plan without --base").strip()
    root = Path(top)
    resolved, sha = _resolve(ref, root)
    merge_base = _git(ref, root, "merge-base", sha, "HEAD",
                      failure=f"{resolved} has no common history with HEAD (git merge-base)",
                      hint=_FETCH_HINT).strip()
    short = _git(ref, root, "rev-parse", "--short=7", merge_base, failure="git rev-parse --short failed").strip()
    added: set[Path] = set()
    changed: set[Path] = set()
    status_output = _git(ref, root, "diff", "--name-status", "--no-renames", "-z", merge_base, "--",
                         failure=f"cannot compare {short} with the working tree (git diff)")
    fields = status_output.split("\0")
    for status, name in zip(fields[0::2], fields[1::2], strict=False):
        if not name:
            continue
        path = (root / name).resolve()
        if status.startswith("A"):
            added.add(path)
        elif not status.startswith("D"):
            changed.add(path)
    untracked = _git(ref, root, "ls-files", "--others", "--exclude-standard", "--full-name", "-z",
                     failure="cannot list the untracked files (git ls-files)")
    added.update((root / name).resolve() for name in untracked.split("\0") if name)
    if _HEX.fullmatch(resolved) and sha.startswith(resolved.lower()):
        resolved = resolved[:7]  # a SHA (a push event's `before`): origin/main@… reads better than 40 digits
    return BaseDiff(ref=resolved, merge_base=merge_base, short=short, added=frozenset(added),
                    changed=frozenset(changed))


def _resolve(ref: str, root: Path) -> tuple[str, str]:
    """(the ref that resolved, its commit): ``ref`` itself, else ``origin/<ref>``."""
    tried = [ref] if ref.startswith("origin/") else [ref, f"origin/{ref}"]
    for candidate in tried:
        result = _run(root, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
        if result.returncode == 0 and result.stdout.strip():
            return candidate, result.stdout.strip()
    also = f" (tried {' and '.join(tried)})" if len(tried) > 1 else ""
    raise ConfigError(f"--base {ref}: no such branch, tag or commit in {root}{also}", hint=_FETCH_HINT)


def _git(ref: str, cwd: Path, *args: str, failure: str, hint: str | None = None) -> str:
    result = _run(cwd, *args)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        detail = f" ({said[-1]})" if said else ""
        if "dubious ownership" in result.stderr:
            # The checkout belongs to another user (a container's uid): git refuses to read it.
            failure = f"git refuses to read {cwd}, owned by another user"
            detail = ""
            hint = f"git config --global --add safe.directory {cwd}"
        raise ConfigError(f"--base {ref}: {failure}{detail}", hint=hint)
    return result.stdout


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No optional locks: `git diff` may otherwise refresh and write the index of a checkout that
    # plan promises only to read. LC_ALL=C: git's messages are quoted in ours.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(
            ["git", *args], cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, encoding="utf-8", errors="surrogateescape", timeout=_GIT_TIMEOUT_S, check=False,
            **die_with_parent(),
        )
    except FileNotFoundError:
        raise ConfigError("--base: git is not installed (plan --base reads the diff with git)",
                          hint="install git, or plan without --base") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"--base: `git {' '.join(args)}` took longer than {_GIT_TIMEOUT_S:.0f}s") from None
