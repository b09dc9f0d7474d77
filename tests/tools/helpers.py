"""Shared helpers for the adapter tests: settings for a project folder, the corpus paths."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pgwarden.config import Settings

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PYTHON = sys.executable


def settings_for(tool: str, base: Path, *, path: str | None = None, **migrations: str) -> Settings:
    settings = Settings()
    settings.migrations.tool = tool
    settings.migrations.path = path
    for key, value in migrations.items():
        setattr(settings.migrations, key, value)
    settings.base_dir = str(base)
    settings.source = str(base / "pgwarden.yml")
    return settings


def copy_project(name: str, dest: Path) -> Path:
    """A private copy of a corpus project, so a test may edit its files."""
    target = dest / name
    shutil.copytree(CORPUS / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target
