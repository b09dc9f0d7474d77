"""What pgwarden reads from a Laravel app's files, without running PHP.

- :func:`history_table_of`: the ``migrations`` entry of ``config/database.php`` (Laravel's history
  table; ``'migrations' => 'schema_migrations'``, ``env('DB_MIGRATIONS_TABLE', ...)``, or
  Laravel 11's ``['table' => ...]``). An entry pgwarden cannot read is a ConfigError naming the
  line: guessing ``migrations`` would report every migration pending and apply none.
- :func:`class_name_of` and :func:`runs_outside_transaction`: what a migration file declares (its
  class, which ``--pretend`` prints in Laravel 8; ``public $withinTransaction = false;``).
- :func:`pretend_problem`: a plan command that would run ``artisan migrate`` without ``--pretend``
  (the destructive commands, abbreviations included, are :mod:`pgwarden.guards`' business).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pgwarden.errors import ConfigError
from pgwarden.guards import artisan_invocations

DEFAULT_HISTORY_TABLE = "migrations"

_COMMENTS = re.compile(r"/\*.*?\*/|(?<![:'\"\w])(?://|#)[^\n]*", re.S)
_STRING = r"""(?:'(?P<{n}>[^'\\]*)'|"(?P<{n}2>[^"\\$]*)")"""
_ENV_CALL = r"env\(\s*" + _STRING.format(n="var") + r"\s*(?:,\s*" + _STRING.format(n="default") + r")?\s*\)"
_VALUE = "(?:" + _STRING.format(n="value") + "|" + _ENV_CALL + ")"
_KEY = re.compile(r"""['"]migrations['"]\s*=>\s*""")
_PLAIN = re.compile(_VALUE)
_TABLE_IN_ARRAY = re.compile(r"""\[[^\]]*?['"]table['"]\s*=>\s*""" + _VALUE, re.S)
_CLASS = re.compile(r"^\s*(?:final\s+|abstract\s+)?class\s+([A-Za-z_]\w*)\s+extends\b", re.M)
_OUTSIDE_TRANSACTION = re.compile(r"\$withinTransaction\s*=\s*false\b", re.I)

_ARTISAN_PRETEND_OPTION = "--pretend"


def history_table_of(app_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The history table configured in ``app_dir/config/database.php`` (default ``migrations``)."""
    path = app_dir / "config" / "database.php"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return DEFAULT_HISTORY_TABLE
    code = _COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    keys = list(_KEY.finditer(code))
    if not keys:
        return DEFAULT_HISTORY_TABLE
    key = keys[-1]  # the top-level entry comes after the connections
    rest = code[key.end():]
    line = code.count("\n", 0, key.start()) + 1
    match = _TABLE_IN_ARRAY.match(rest) if rest.startswith("[") else _PLAIN.match(rest)
    if match is None:
        raise ConfigError(
            f"{path}:{line}: 'migrations': expected a table name ('migrations' => 'name', env('VAR', 'name') "
            f"or ['table' => 'name']), got {rest.splitlines()[0].strip()[:80]!r}",
            hint="pgwarden reads Laravel's history table from config/database.php; write the name as a string",
        )
    value = match.group("value") if match.group("value") is not None else match.group("value2")
    if value is None:
        var = match.group("var") or match.group("var2") or ""
        default = match.group("default") if match.group("default") is not None else match.group("default2")
        value = _env_value(var, app_dir, os.environ if environ is None else environ)
        if value is None:
            value = default
        if not value:
            raise ConfigError(
                f"{path}:{line}: 'migrations' reads env('{var}') without a default, and {var} is not set "
                "(neither in the environment nor in .env)",
                hint=f"set {var}, or give env() a default",
            )
    return value


def _env_value(var: str, app_dir: Path, environ: Mapping[str, str]) -> str | None:
    """``var`` as Laravel sees it: the process environment first, then the app's ``.env``."""
    if var in environ:
        return environ[var]
    try:
        lines = (app_dir / ".env").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for raw in lines:
        name, sep, value = raw.strip().removeprefix("export ").partition("=")
        if sep and name.strip() == var:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                return value[1:-1]
            return value.split(" #", 1)[0].strip()
    return None


def class_name_of(path: Path) -> str | None:
    """The class a named migration declares; None for ``return new class extends Migration``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _CLASS.search(_COMMENTS.sub("", text))
    return match.group(1) if match else None


def runs_outside_transaction(path: Path) -> bool:
    """``public $withinTransaction = false;``: Laravel runs it without a transaction, so a failure
    half-way leaves what ran before it applied."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(_OUTSIDE_TRANSACTION.search(_COMMENTS.sub("", text)))


def studly_class(name: str) -> str:
    """The class Laravel derives from a file name: ``2024_01_01_000000_add_total`` -> ``AddTotal``."""
    words = name.split("_")[4:] or name.split("_")
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def pretend_problem(command: str) -> str | None:
    """Why ``command`` cannot be plan's command: it runs artisan's migrate without ``--pretend``."""
    for words in artisan_invocations(command):
        names = [w for w in words if not w.startswith("-")]
        if names and _may_be_migrate(names[0]) and _ARTISAN_PRETEND_OPTION not in words:
            return f"it runs `artisan {names[0]}` without --pretend, which applies the migrations"
    return None


def _may_be_migrate(word: str) -> bool:
    """``migrate`` exactly (Symfony runs an exact name as itself), or ``MIGRATE``."""
    return word.lower() == "migrate"
