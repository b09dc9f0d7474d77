"""The error types that carry pgwarden's exit codes.

Every failure a user can cause or meet is one of these; the CLI turns them into a message
on stderr and the exit code of the CLI contract. Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PLAN_BLOCKED = 3
EXIT_REFUSED = 4


class PgwardenError(Exception):
    """Base class: ``exit_code`` is what the CLI exits with, ``str(self)`` what it prints."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(PgwardenError):
    """Bad configuration or usage: the message names the file, key and what is expected."""

    exit_code = EXIT_USAGE


class OperationFailed(PgwardenError):
    """The operation was attempted and failed (a connection, pg_dump, a migration...)."""

    exit_code = EXIT_FAILED


class SafetyRefusal(PgwardenError):
    """pgwarden refused to do something unsafe: nothing was changed."""

    exit_code = EXIT_REFUSED
