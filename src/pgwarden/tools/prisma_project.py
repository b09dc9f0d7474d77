"""What pgwarden reads of a Prisma project besides its migrations: the config, the engine, checksums.

- ``prisma.config.ts`` (or ``.mts``/``.cts``/``.js``/``.mjs``/``.cjs``) in the tool's working
  directory: the engine (``engine: "js"`` with a driver adapter, else Prisma's native schema
  engine) and where Prisma reads migrations from (``migrations: {path: ...}``, else the folder
  ``migrations`` beside ``schema``). Only literal strings are read; a computed value is not
  guessed (the deploy still compares what Prisma applied with what pgwarden expected).
- How each engine runs a ``migration.sql``, which decides :attr:`Migration.atomic`: the native
  engine sends the file as one query (PostgreSQL runs it as one implicit transaction, unless the
  file has its own BEGIN/COMMIT); the driver-adapter engine splits it on ``;`` and runs the
  pieces one by one without a transaction.
- Checksums compared as Prisma compares them (its schema engine's ``script_matches_checksum``):
  the file as it is, with CRLF turned into LF, or LF into CRLF; a recorded checksum that is not 64
  characters long was written by an old Prisma that did not zero-pad the hex bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAMES = tuple(f"prisma.config.{ext}" for ext in ("ts", "mts", "cts", "js", "mjs", "cjs"))

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_TRANSACTION_CONTROL = re.compile(r"^\s*(begin|commit|end|rollback|start\s+transaction|abort)\b", re.I)
_NOT_IN_TRANSACTION = re.compile(r"\bconcurrently\b|^\s*vacuum\b|^\s*(create|drop)\s+database\b", re.I | re.M)
_ENGINE = re.compile(r"""\bengine\s*:\s*["'`](\w+)["'`]""")
_MIGRATIONS_PATH = re.compile(r"""\bmigrations\s*:\s*\{[^{}]*?\bpath\s*:\s*["'`]([^"'`]+)["'`]""", re.S)
_SCHEMA = re.compile(r"""\bschema\s*:\s*["'`]([^"'`]+)["'`]""")


@dataclass(frozen=True)
class PrismaProject:
    """The parts of a project's Prisma configuration pgwarden relies on."""

    #: The config file, None when the project has none (Prisma's defaults apply).
    config_file: Path | None
    #: ``js`` (driver adapter, WebAssembly schema engine) or ``classic`` (the native engine).
    engine: str
    #: Where Prisma reads migrations from, when the config says so with a literal string.
    migrations_path: Path | None
    #: The installed Prisma CLI's version (``node_modules/prisma/package.json``), when found.
    version: str | None

    @property
    def adapter_engine(self) -> bool:
        return self.engine == "js"

    @property
    def major(self) -> int | None:
        head = (self.version or "").split(".")[0]
        return int(head) if head.isdigit() else None

    @property
    def engine_description(self) -> str:
        if self.adapter_engine:
            return "the driver-adapter engine (engine: \"js\")"
        return "Prisma's native schema engine"


def read_project(cwd: Path) -> PrismaProject:
    """The Prisma configuration of the project run in ``cwd``."""
    config = next((cwd / name for name in CONFIG_NAMES if (cwd / name).is_file()), None)
    engine, migrations = "classic", None
    if config is not None:
        text = _COMMENT_JS.sub("", config.read_text(encoding="utf-8", errors="replace"))
        found = _ENGINE.search(text)
        engine = found.group(1) if found else "classic"
        path = _MIGRATIONS_PATH.search(text)
        if path:
            migrations = (config.parent / path.group(1)).resolve()
        else:
            migrations = _beside_schema(config.parent, text)
    return PrismaProject(config, engine, migrations, _installed_version(cwd))


_COMMENT_JS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _beside_schema(base: Path, text: str) -> Path | None:
    """``migrations/`` beside the configured schema: a ``.prisma`` file, or a folder of them.

    Other ``schema:`` keys (the adapter's PostgreSQL schema, ``new PrismaPg(..., {schema: "app"})``)
    name neither and are skipped.
    """
    for found in _SCHEMA.finditer(text):
        schema = base / found.group(1)
        if schema.suffix == ".prisma":
            return (schema.parent / "migrations").resolve()
        if schema.is_dir() and any(schema.glob("*.prisma")):
            return (schema / "migrations").resolve()
    return None


def _installed_version(cwd: Path) -> str | None:
    for folder in (cwd, *cwd.parents):
        manifest = folder / "node_modules" / "prisma" / "package.json"
        if manifest.is_file():
            try:
                return str(json.loads(manifest.read_text(encoding="utf-8")).get("version") or "") or None
            except (OSError, ValueError):
                return None
    return None


# --- how a file runs ---------------------------------------------------------------------------


def adapter_statements(sql: str) -> list[str]:
    """The pieces the driver-adapter engine runs: the file split on every ``;``, blanks dropped.

    (That is its whole parser: a ``;`` in a string or a comment splits too.) Pieces that are
    only comments are dropped here as well: PostgreSQL runs them as empty queries.
    """
    pieces = [piece.strip() for piece in sql.split(";")]
    return [piece for piece in pieces if _COMMENT.sub("", piece).strip()]


def is_atomic(sql: str, *, adapter_engine: bool) -> bool:
    """Does a failure half-way leave nothing of the file applied?"""
    statements = adapter_statements(sql)
    if any(_NOT_IN_TRANSACTION.search(_COMMENT.sub("", s)) for s in statements):
        # CONCURRENTLY and friends cannot run in a transaction: a failure can leave e.g. an
        # INVALID index behind, whatever else the file holds.
        return False
    if adapter_engine:
        return len(statements) <= 1
    return not any(_TRANSACTION_CONTROL.match(_COMMENT.sub("", s)) for s in statements)


# --- checksums ---------------------------------------------------------------------------------


def checksum_matches(data: bytes, recorded: str) -> bool:
    """Does ``recorded`` (a ``_prisma_migrations.checksum``) match the file, as Prisma decides it?"""
    variants = (data, data.replace(b"\r\n", b"\n"), data.replace(b"\n", b"\r\n"))
    for variant in variants:
        digest = hashlib.sha256(variant).digest()
        if recorded and len(recorded) != 64:
            # Written by a Prisma that formatted each byte without zero-padding.
            if "".join(f"{byte:x}" for byte in digest) == recorded:
                return True
        elif digest.hex() == recorded:
            return True
    return False
