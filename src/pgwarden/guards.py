"""Pure safety decisions for ``deploy``: which environment is this, and is a command destructive?

The seeds forbid ``migrate:fresh`` / ``migrate:reset`` and careless ``--force`` in production
(本番環境での禁止事項). Here that becomes data: each :class:`ForbiddenCommand` is a word
sequence, matched against the shell words of every command pgwarden would run (the migration
command and the hooks), with the reason shown to the user. No I/O happens in this module.

Artisan (Symfony Console) runs any unambiguous abbreviation of a command name: ``mi:fr`` is
``migrate:fresh``, ``db:w`` is ``db:wipe``, case-insensitively. So a word after ``artisan`` counts as
a forbidden artisan command whenever Symfony's abbreviation pattern for it matches that name
(:func:`artisan_may_run`). A command line handed to a shell (``sh -c '...'``, ``eval``) is read as one too.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ForbiddenCommand:
    """A destructive tool invocation: ``words`` must appear in order among the non-option words."""

    words: tuple[str, ...]
    why: str
    #: Match an option (``--accept-data-loss``) anywhere instead of a word sequence.
    option: str | None = None

    @property
    def label(self) -> str:
        return self.option or " ".join(self.words)


FORBIDDEN_COMMANDS: tuple[ForbiddenCommand, ...] = (
    ForbiddenCommand(("migrate:fresh",), "drops every table and re-runs all migrations: all data is lost"),
    ForbiddenCommand(("migrate:reset",), "rolls back every migration: drops the schema and its data"),
    ForbiddenCommand(("migrate:refresh",), "rolls back and re-runs every migration: all data is lost"),
    ForbiddenCommand(("db:wipe",), "drops all tables, views and types"),
    ForbiddenCommand(("prisma", "migrate", "reset"), "drops the database and re-applies every migration"),
    ForbiddenCommand(
        ("prisma", "migrate", "dev"),
        "a development command: it may reset the database when it detects drift; use `prisma migrate deploy`",
    ),
    ForbiddenCommand(
        ("prisma", "db", "push"),
        "pushes the schema without migrations and may drop columns or tables; use `prisma migrate deploy`",
    ),
    ForbiddenCommand((), "tells Prisma to go ahead even when the change loses data", option="--accept-data-loss"),
    ForbiddenCommand(("alembic", "downgrade", "base"), "reverts every revision: drops the whole schema"),
)

_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")"}
#: The option after which a shell takes a command line: -c, -lc, -ec, -xc...
_SHELL_SCRIPT_FLAG = re.compile(r"^-[a-z]*c$")


@dataclass(frozen=True)
class ForbiddenUse:
    """One forbidden command found in one configured command."""

    where: str
    command: str
    rule: ForbiddenCommand

    def message(self) -> str:
        return f"{self.where} runs `{self.rule.label}` ({self.rule.why})"


def _simple_commands(command: str) -> list[list[str]]:
    """Split a shell command line into simple commands (word lists), tolerating odd quoting."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        tokens = re.split(r"\s+", command.strip())
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _contains_in_order(words: list[str], wanted: tuple[str, ...]) -> bool:
    """``wanted`` appears in order in ``words``, other words (option values) allowed between.

    ``alembic -c prod.ini downgrade base`` matches ``alembic downgrade base``; a path such as
    ``./node_modules/.bin/prisma`` counts as ``prisma``.
    """
    names = iter(w.rsplit("/", 1)[-1].lower() for w in words)
    return all(any(name == word for name in names) for word in wanted)


def artisan_may_run(word: str, name: str) -> bool:
    """Whether ``php artisan WORD`` can run the command ``name``, abbreviations included.

    Symfony Console looks a name up exactly, else by the pattern built from its ``:``-separated
    parts, each followed by ``[^:]*`` (``mi:fr`` -> ``mi[^:]*:fr[^:]*``), case-insensitively as a
    last resort, and runs the one command that pattern matches in full.
    """
    if not word or word.startswith("-"):
        return False
    pattern = "[^:]*:".join(re.escape(part) for part in word.split(":")) + "[^:]*"
    return re.fullmatch(pattern, name, re.IGNORECASE) is not None


def _artisan_words(words: list[str]) -> list[str]:
    """The words after ``artisan`` (``php artisan``, ``./artisan``, ``sail artisan``), else none."""
    for i, word in enumerate(words):
        if word.rsplit("/", 1)[-1].lower() == "artisan":
            return words[i + 1:]
    return []


def artisan_invocations(command: str) -> list[list[str]]:
    """For each simple command of ``command`` that runs artisan: the words after ``artisan``."""
    return [_artisan_words(words) for words in _simple_commands(command)
            if any(word.rsplit("/", 1)[-1].lower() == "artisan" for word in words)]


def _matches(rule: ForbiddenCommand, words: list[str], options: set[str]) -> bool:
    if rule.option is not None:
        return rule.option in options
    if _contains_in_order(words, rule.words):
        return True
    if len(rule.words) == 1 and ":" in rule.words[0]:
        return any(artisan_may_run(word, rule.words[0]) for word in _artisan_words(words))
    return False


def forbidden_in(command: str, _depth: int = 0) -> list[ForbiddenCommand]:
    """The forbidden commands a shell command line would run."""
    found: list[ForbiddenCommand] = []
    for simple in _simple_commands(command):
        words = [w for w in simple if not w.startswith("-")]
        options = {w.split("=", 1)[0].lower() for w in simple if w.startswith("-")}
        found += [rule for rule in FORBIDDEN_COMMANDS if rule not in found and _matches(rule, words, options)]
        if _depth < 3:
            # A command line handed to a shell: sh -c '...', bash -lc "...", eval "...".
            for before, word in itertools.pairwise(simple):
                if _SHELL_SCRIPT_FLAG.match(before) or before.rsplit("/", 1)[-1] == "eval":
                    found += [rule for rule in forbidden_in(word, _depth + 1) if rule not in found]
    return found


def find_forbidden(commands: Mapping[str, str | None]) -> list[ForbiddenUse]:
    """Every forbidden use in ``{"migrations.command": "...", "deploy.hooks.pre": ...}``."""
    uses: list[ForbiddenUse] = []
    for where, command in commands.items():
        if not command:
            continue
        uses.extend(ForbiddenUse(where, command, rule) for rule in forbidden_in(command))
    return uses


def is_protected(environment: str | None, protected: Iterable[str]) -> bool:
    """Protected environments are compared case-insensitively (``Production`` is ``production``)."""
    if not environment:
        return False
    names = {p.strip().lower() for p in protected}
    return environment.strip().lower() in names


def resolve_environment(flag: str | None, configured: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """``--environment``, else the config's ``environment``, else ``PGWARDEN_ENVIRONMENT``.

    GitHub Actions does not expose a job's ``environment:`` name to its steps, so the reusable
    workflow passes it explicitly as ``PGWARDEN_ENVIRONMENT``.
    """
    environ = os.environ if env is None else env
    for value in (flag, configured, environ.get("PGWARDEN_ENVIRONMENT")):
        if value and value.strip():
            return value.strip()
    return None
