"""How Prisma orders a migrations folder: ``<name>/migration.sql`` folders, by folder name.

Prisma (``migrate deploy``/``dev``) sorts the folders by name and applies them in that order; two
folders may share a timestamp prefix (``20240101000000_a``, ``20240101000000_b``) and Prisma
accepts it, so a PATH that is a Prisma folder is ordered this way, not by a unique version.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pgwarden.errors import ConfigError
from pgwarden.tools.base import has_sql_suffix

#: Prisma writes this file next to the migration folders (``prisma migrate dev``).
LOCK_FILE = "migration_lock.toml"


def is_prisma_folder(folder: Path) -> bool:
    """True when ``folder`` is laid out as Prisma's: its lock file, or only ``<name>/migration.sql``
    folders (and no loose .sql file, which is the plain ``sql`` layout)."""
    if (folder / LOCK_FILE).is_file():
        return True
    with os.scandir(folder) as listing:  # each entry's type without a stat: a plain folder has thousands
        entries = list(listing)
    if any(entry.is_file() and has_sql_suffix(entry.name) for entry in entries):
        return False
    return any(entry.is_dir() and os.path.isfile(os.path.join(entry.path, "migration.sql")) for entry in entries)


def migration_folders(folder: Path, display: Callable[[Path], str] = str) -> list[Path]:
    """The migration folders of ``folder`` in Prisma's apply order (folder name; the timestamp prefix
    makes that chronological).

    A folder without migration.sql is refused as Prisma refuses it (P3015: it applies nothing after
    it); ``display`` names that folder in the message.
    """
    folders = sorted((entry for entry in folder.iterdir() if entry.is_dir()), key=lambda entry: entry.name)
    empty = [entry for entry in folders if not (entry / "migration.sql").is_file()]
    if empty:
        raise ConfigError(
            f"{display(empty[0])}: a migration folder without migration.sql: Prisma stops there (P3015) and "
            "applies nothing after it",
            hint="restore the folder's migration.sql from version control, or delete the empty folder",
        )
    return folders


def migration_files(folder: Path) -> list[tuple[str, Path]]:
    """``(name, migration.sql)`` of each migration folder, in Prisma's apply order."""
    return [(entry.name, entry / "migration.sql") for entry in migration_folders(folder)]
