"""What every command shares: common options, the loaded settings, and output.

``--format json`` prints exactly one JSON document on stdout; all human text goes to stderr
(so ``pgwarden backup --format json > manifest.json`` works). Everything printed passes
through :func:`pgwarden.redact.redact`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pgwarden.config import Settings, database_url_from_env, find_config, load_settings
from pgwarden.redact import redact, redact_json

if TYPE_CHECKING:
    from pgwarden.pg.connection import DatabaseTarget  # psycopg: loaded only by a command that connects


@dataclass(frozen=True)
class Command:
    """What a command module provides; its one-line help is in :data:`pgwarden.cli.main.COMMANDS`,
    which lists every command without importing its module."""

    name: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context], int]
    #: The ``--format`` choices, text first (the default); empty: the command has no ``--format``.
    formats: tuple[str, ...] = ("text", "json")
    uses_config: bool = True
    description: str = ""


@dataclass
class Context:
    """The parsed command line plus everything derived from it, computed once."""

    args: argparse.Namespace
    settings: Settings
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _target: DatabaseTarget | None = None
    #: Set once the command's own document is on stdout (an error then prints no second one).
    printed_document: bool = False

    @property
    def format(self) -> str:
        return str(getattr(self.args, "format", "text") or "text")

    @property
    def json(self) -> bool:
        return self.format == "json"

    def database_url(self) -> str:
        return database_url_from_env(self.settings, getattr(self.args, "database_url", None))

    def has_database_url(self) -> bool:
        return bool(getattr(self.args, "database_url", None) or os.environ.get(self.settings.database_url_env))

    def target(self) -> DatabaseTarget:
        if self._target is None:
            from pgwarden.pg.connection import DatabaseTarget

            self._target = DatabaseTarget.from_url(self.database_url())
        return self._target

    def say(self, text: str = "") -> None:
        """Human-readable progress and results: always stderr when the document is JSON."""
        stream = self.stderr if self.format not in ("text",) else self.stdout
        print(redact(text), file=stream, flush=True)

    def note(self, text: str) -> None:
        """Progress lines: stderr always, so stdout stays clean for reports."""
        print(redact(text), file=self.stderr, flush=True)

    def emit_json(self, document: Any) -> None:
        print(json_text(document), file=self.stdout, flush=True)
        self.printed_document = True

    def write_output(self, text: str, path: str | None, *, redacted: bool = False) -> None:
        """Write a report to ``--output`` (and say where), or to stdout. ``redacted``: the text is a
        JSON document already redacted string by string (:func:`pgwarden.redact.redact_json`)."""
        safe = text if redacted else redact(text)
        if path:
            out = Path(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(safe, encoding="utf-8")
            self.note(f"report written to {out}")
        else:
            print(safe, file=self.stdout, flush=True)
            self.printed_document = True


def json_text(document: Any) -> str:
    """The document as JSON, every string in it redacted (:func:`pgwarden.redact.redact_json`)."""
    plain = json.loads(json.dumps(document, default=str))
    return redact_json(plain, lambda doc: json.dumps(doc, indent=2, ensure_ascii=False))


def add_config_options(parser: argparse.ArgumentParser, *, database: bool = True) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (default: ./pgwarden.yml if present)")
    if database:
        parser.add_argument(
            "--database-url",
            metavar="URL",
            help="target database (default: the env var named by database_url_env, DATABASE_URL)",
        )


def load_context(args: argparse.Namespace) -> Context:
    path = find_config(getattr(args, "config", None))
    settings = load_settings(path)
    if path is None and getattr(args, "config", None) is None:
        settings.base_dir = str(Path.cwd())
    return Context(args=args, settings=settings)
