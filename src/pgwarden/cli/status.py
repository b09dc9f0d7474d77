"""`pgwarden status` (being built; see the issue that owns it)."""

from __future__ import annotations

import argparse

from pgwarden.cli.common import Command, Context
from pgwarden.errors import OperationFailed


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _run(ctx: Context) -> int:
    raise OperationFailed("pgwarden status: this command is not wired yet")


COMMAND = Command(name="status", help="status", example="pgwarden status", add_arguments=_add_arguments, run=_run)
