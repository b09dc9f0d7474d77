"""The error types that carry pgwarden's exit codes, and the document a failure prints.

Every failure a user can cause or meet is one of these; the CLI turns them into a message
on stderr and the exit code of the CLI contract (and, under ``--format json``, into the one
JSON document of :class:`ErrorReport` on stdout). Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PLAN_BLOCKED = 3
EXIT_REFUSED = 4

#: The ``error.kind`` of the JSON error document, by exit code.
ERROR_KINDS = {EXIT_FAILED: "failed", EXIT_USAGE: "usage", EXIT_REFUSED: "refused"}


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


@dataclass(frozen=True)
class ErrorReport:
    """What a command that failed or refused prints under ``--format json`` instead of its result.

    ``{"version": 1, "step": "deploy", "ok": false, "exit_code": 4,
    "error": {"kind": "refused", "message": "...", "hint": "..." | null}}``: the actions keep it as
    the step's result, so the step summary and the PR comment can say why.
    """

    step: str | None
    exit_code: int
    message: str
    hint: str | None = None

    @property
    def kind(self) -> str:
        return ERROR_KINDS.get(self.exit_code, "failed")

    @classmethod
    def of(cls, step: str | None, error: PgwardenError) -> ErrorReport:
        return cls(step, error.exit_code, error.message, error.hint)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "step": self.step,
            "ok": False,
            "exit_code": self.exit_code,
            "error": {"kind": self.kind, "message": self.message, "hint": self.hint},
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ErrorReport | None:
        """The error a step's document reports, or None when it is a result (not an error document)."""
        error = document.get("error")
        if not isinstance(error, dict) or document.get("ok") is not False:
            return None
        code = document.get("exit_code")
        hint = error.get("hint")
        return cls(
            step=str(document["step"]) if document.get("step") is not None else None,
            exit_code=code if isinstance(code, int) else EXIT_FAILED,
            message=str(error.get("message") or ""),
            hint=str(hint) if hint else None,
        )
