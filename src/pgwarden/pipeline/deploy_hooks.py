"""The deploy hooks (``deploy.hooks.pre``, ``post``, ``on_failure``): shell commands around the migration.

A hook runs through the shell where the tool's commands run (``migrations.working_directory``, else
the config's folder), with the deploy's run id, environment,
database and backup id in its environment (``PGWARDEN_*``); its output is captured, redacted and
trimmed (:func:`tail_output`, also used for the migration tool's output).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from pgwarden.children import run_killing_group
from pgwarden.config import Settings
from pgwarden.durations import format_duration
from pgwarden.redact import redact

HOOK_TIMEOUT_S = 15 * 60.0
#: Characters of a tool's output kept in a deploy result (the end, where the error is).
OUTPUT_LIMIT = 8000
#: Characters of output kept in a hook record or an audit line.
STEP_OUTPUT_LIMIT = 4000


def tail_output(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """The redacted end of a command's output, at most ``limit`` characters."""
    text = redact(text or "")
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


@dataclass
class HookRun:
    """One hook that ran: its command, exit code (None: timed out or did not start) and output."""

    stage: str
    command: str
    exit_code: int | None
    output: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "command": redact(self.command), "exit_code": self.exit_code,
                "ok": self.ok, "duration_s": round(self.duration_s, 3), "output": self.output}


def run_hook(stage: str, command: str, settings: Settings, extra_env: dict[str, str]) -> HookRun:
    """Run one hook through the shell where the tool's commands run (``migrations.working_directory``,
    else the config's folder); output captured and redacted."""
    started = time.monotonic()
    env = {**os.environ, **extra_env}
    folder = settings.migrations.working_directory
    try:
        # A hook is a shell command by design (pgwarden.yml); the children it starts end with it.
        done = run_killing_group(  # noqa: S604
            command, shell=True, cwd=settings.resolve_path(folder) if folder else settings.base_dir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=HOOK_TIMEOUT_S,
        )
        code: int | None = done.returncode
        output = (done.stdout or "") + (done.stderr or "")
    except subprocess.TimeoutExpired as exc:
        code = None
        output = f"{exc.output or ''}\n[timed out after {format_duration(HOOK_TIMEOUT_S)}]"
    except OSError as exc:
        code = None
        output = f"could not start the hook: {exc.strerror}"
    return HookRun(stage, command, code, tail_output(str(output), STEP_OUTPUT_LIMIT), time.monotonic() - started)
