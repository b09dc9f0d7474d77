"""Run a project's own migration tool (Prisma, Laravel, Alembic) as a child process.

The three external adapters derive from :class:`ExternalTool`, which holds what they share:
how the child learns where the database is, which limits its session has, how its output
comes back, and how ``apply`` reads what changed.

- No secret on a command line: the database URL (with its password) travels in the child's
  environment (``DATABASE_URL`` and the config's ``database_url_env``, plus ``DB_URL`` for
  Laravel 11), libpq clients also get ``PGPASSWORD`` and friends from
  :meth:`DatabaseTarget.child_env`.
- Session limits: ``PGOPTIONS=-c lock_timeout=... -c statement_timeout=...``, which libpq (PHP's
  pdo_pgsql, psycopg, psycopg2) and node-postgres read. The URL's ``options`` query parameter
  carries them too only for a tool whose driver reads nothing else (``url_session_options``):
  Laravel turns a URL's query parameters into its PDO options and dies on ``options=``
  (``array_diff_key(): Argument #2 must be of type array``), SQLAlchemy hands them to the driver.
- The plan command runs read-only (``PGOPTIONS ... -c default_transaction_read_only=on``): plan
  never writes, whatever the configured command does.
- A Unix-socket URL names ``localhost`` with ``?host=/socket/dir`` (PHP's parse_url, which Laravel
  uses, rejects an empty host; libpq, Prisma and node-postgres let the query's host win).
- ``application_name=pgwarden-migrate`` (``PGAPPNAME`` and in the URL) so the deploy's lock
  watchdog can find the migration's backend in ``pg_stat_activity``.
- Output is captured, redacted and returned; a lock timeout (SQLSTATE 55P03) is recognised in it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pgwarden.children import run_killing_group
from pgwarden.config import Settings
from pgwarden.durations import pg_duration
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.names import MIGRATE_APPLICATION_NAME, PLAN_APPLICATION_NAME
from pgwarden.records import MigrationStatus
from pgwarden.redact import redact, register_secret
from pgwarden.tools.base import ApplyResult, MigrationTool, SessionLimits, display_path

if TYPE_CHECKING:
    import psycopg

    from pgwarden.pg.connection import DatabaseTarget

# psycopg (half of pgwarden's start-up) loads where the database is used: a static plan needs none of it.

#: Output that means the tool's session hit ``lock_timeout``.
LOCK_TIMEOUT_PATTERN = re.compile(r"55P03|canceling statement due to lock timeout|lock_not_available", re.I)
#: Output that means the tool could not connect (SQLSTATE classes 08 and 28, 3D000; Prisma P1000-P1003).
CONNECT_FAILURE_PATTERN = re.compile(
    r"SQLSTATE\[(?:08|28|3D000)|\bP100[0-3]\b|could not connect to server|connection to server .{0,200}failed"
    r"|Connection refused|password authentication failed|could not translate host name"
    r"|could not find driver|The database configuration URL is malformed",
    re.I,
)
#: PGOPTIONS for a session that must not write.
READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?~\n]|&&|\|\|")
#: How much captured output is kept (the end matters most: that is where errors are).
MAX_OUTPUT_CHARS = 200_000


@dataclass(frozen=True)
class CommandResult:
    """A finished child process: exit code and its redacted, combined stdout+stderr."""

    argv: list[str]
    returncode: int
    output: str
    errors: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def lock_timeout_hit(self) -> bool:
        return bool(LOCK_TIMEOUT_PATTERN.search(self.output) or LOCK_TIMEOUT_PATTERN.search(self.errors))

    @property
    def connect_failed(self) -> bool:
        return bool(CONNECT_FAILURE_PATTERN.search(self.output) or CONNECT_FAILURE_PATTERN.search(self.errors))


def session_options(limits: SessionLimits | None) -> str:
    """The ``-c name=value`` string for PGOPTIONS and the URL's ``options`` parameter."""
    if limits is None:
        return ""
    return (
        f"-c lock_timeout={pg_duration(limits.lock_timeout_s)} "
        f"-c statement_timeout={pg_duration(limits.statement_timeout_s)}"
    )


def target_of(conn: psycopg.Connection[Any]) -> DatabaseTarget:
    """The database of an open connection, to hand the same one to a child process."""
    from pgwarden.pg.connection import DatabaseTarget
    params = {k: v for k, v in conn.info.get_parameters().items() if v}
    params.pop("application_name", None)
    password = conn.info.password
    if password:
        params["password"] = password
    params.setdefault("dbname", conn.info.dbname)
    return DatabaseTarget(params)


def url_with_session(target: DatabaseTarget, limits: SessionLimits | None, *, with_options: bool = True,
                     application_name: str = MIGRATE_APPLICATION_NAME) -> str:
    """The target as a URL carrying application_name (and, ``with_options``, the session limits).

    Secret: it goes in the child's environment only.
    """
    url = target.url()
    parts = urlsplit(url)
    if not parts.netloc.split("@")[-1] and str(target.params.get("host", "")).startswith("/"):
        # postgresql://user@/db?host=/socket: PHP's parse_url (Laravel) rejects an empty host.
        parts = parts._replace(netloc=parts.netloc + "localhost")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["application_name"] = application_name
    options = session_options(limits)
    if not with_options:
        query.pop("options", None)  # the target's own options go in PGOPTIONS (child_environment)
    elif options:
        query["options"] = " ".join(o for o in (query.get("options", ""), options) if o)
    result = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    register_secret(result)
    return result


def child_environment(
    target: DatabaseTarget | None,
    limits: SessionLimits | None,
    *,
    url_env_names: Sequence[str] = ("DATABASE_URL",),
    extra: Mapping[str, str] | None = None,
    url_options: bool = True,
    read_only: bool = False,
) -> dict[str, str]:
    """The environment of a migration tool child: the database only ever appears in here.

    ``read_only`` adds ``default_transaction_read_only=on`` to PGOPTIONS (the plan command), whose
    sessions are named :data:`~pgwarden.names.PLAN_APPLICATION_NAME`, not a migration's.
    """
    application_name = PLAN_APPLICATION_NAME if read_only else MIGRATE_APPLICATION_NAME
    if target is None:
        env = dict(os.environ)
    else:
        env = target.child_env()
        for key, value in (
            ("PGHOST", target.params.get("host")),
            ("PGPORT", target.params.get("port")),
            ("PGUSER", target.params.get("user")),
            ("PGDATABASE", target.dbname),
        ):
            if value:
                env[key] = value
        url = url_with_session(target, limits, with_options=url_options, application_name=application_name)
        for name in url_env_names:
            env[name] = url
    env["PGAPPNAME"] = application_name
    # Console tools (Laravel's Symfony console) wrap their error box at the terminal's width, 80
    # without a terminal: an error line cut in two loses its end (the index's name) in the result,
    # and a DETAIL cut in two escapes the rehearsal's masking of production values. Always: an
    # inherited COLUMNS (an interactive shell's, pytest-xdist's 80) is the width of a terminal the
    # captured output never reaches.
    env["COLUMNS"] = "1000"
    own = target.params.get("options", "") if target is not None and not url_options else ""
    options = " ".join(o for o in (own, session_options(limits), READ_ONLY_OPTIONS if read_only else "") if o)
    if options:
        # Ours last: of two -c settings of one name, the later wins.
        existing = os.environ.get("PGOPTIONS", "").strip()
        env["PGOPTIONS"] = f"{existing} {options}".strip()
    if extra:
        env.update(extra)
    return env


def command_argv(command: str) -> list[str]:
    """Split a configured command; anything with shell syntax runs through ``sh -c``.

    The command comes from pgwarden.yml, never from the database URL, so neither form puts a
    secret on a command line.
    """
    if _SHELL_SYNTAX.search(command):
        return ["/bin/sh", "-c", command]
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"migrations.command: expected a command line, got {command!r} ({exc})") from None
    if not argv:
        raise ConfigError("migrations.command: expected a command line, got an empty string")
    return argv


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    what: str,
    timeout_s: float | None = None,
    separate_stderr: bool = False,
) -> CommandResult:
    """Run ``argv`` and capture its output. A missing program is a clear OperationFailed.

    With ``separate_stderr`` the result's ``output`` is stdout only (a document such as
    ``alembic --sql`` output) and ``errors`` holds stderr; otherwise both are interleaved.
    """
    try:
        proc = run_killing_group(  # npx, sh -c …: the tool's own children end with it
            list(argv),
            cwd=str(cwd),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
            timeout=timeout_s,
        )
    except FileNotFoundError:
        raise OperationFailed(
            f"{what}: cannot run {argv[0]!r}: not found",
            hint="install the tool, or set migrations.command / migrations.plan_command in pgwarden.yml",
        ) from None
    except subprocess.TimeoutExpired as exc:
        partial = exc.output.decode("utf-8", "replace") if isinstance(exc.output, bytes) else ""
        return CommandResult(
            argv=list(argv),
            returncode=124,
            output=_trim(redact(partial) + f"\n{what}: timed out after {timeout_s:.0f}s"),
        )
    output = proc.stdout.decode("utf-8", "replace") if proc.stdout else ""
    errors = proc.stderr.decode("utf-8", "replace") if proc.stderr else ""
    return CommandResult(
        argv=list(argv), returncode=proc.returncode, output=_trim(redact(output)), errors=_trim(redact(errors))
    )


def python_tool(module: str) -> list[str]:
    """The argv prefix of a Python CLI: its script on PATH, else ``python -m module``."""
    found = shutil.which(module)
    if found:
        return [found]
    sibling = Path(sys.executable).with_name(module)
    if sibling.is_file():
        return [str(sibling)]
    return [sys.executable, "-m", module]


def _trim(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return "[... output truncated ...]\n" + text[-MAX_OUTPUT_CHARS:]


class ExternalTool(MigrationTool):
    """What the Prisma, Laravel and Alembic adapters share: running their tool against a target.

    A subclass sets ``name``, ``default_command`` and ``url_env_names``, and reads the tool's
    history (the rest of :class:`MigrationTool`). ``apply`` runs ``command()`` with the
    database in the child's environment and reports the change from the history table, which
    is the only account of what the tool did that does not depend on its output format.
    """

    #: What ``deploy`` runs unless ``migrations.command`` is set.
    default_command: str
    #: Environment variables the tool reads the database URL from (``database_url_env`` is added).
    url_env_names: tuple[str, ...] = ("DATABASE_URL",)
    #: Whether the URL also carries the session limits (``options=``), for a driver that reads
    #: neither PGOPTIONS nor anything but the URL. Never for Laravel: it breaks its PDO options.
    url_session_options: bool = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def display(self, path: Path) -> str:
        """``path`` relative to the config's folder when it is inside it, as reports show it."""
        return display_path(path, self.settings.base_dir)

    def command(self) -> str:
        return self.settings.migrations.command or self.default_command

    def cwd(self) -> Path:
        """``migrations.working_directory`` (relative to the config), else the config's folder."""
        configured = self.settings.migrations.working_directory
        folder = self.settings.resolve_path(configured) if configured else Path(self.settings.base_dir)
        if not folder.is_dir():
            raise ConfigError(
                f"{self.settings.source or 'pgwarden.yml'}: migrations.working_directory: expected an existing "
                f"folder, but {folder} does not exist"
            )
        return folder

    def failure_logs(self, conn: psycopg.Connection[Any], name: str) -> str | None:
        return None

    def environment(
        self, target: DatabaseTarget | None, limits: SessionLimits | None, *, run_id: str | None = None,
        read_only: bool = False,
    ) -> dict[str, str]:
        """The child's environment: the database (URL and libpq variables), limits, the run id."""
        names = list(dict.fromkeys([*self.url_env_names, self.settings.database_url_env]))
        extra = {"PGWARDEN_RUN_ID": run_id} if run_id else None
        return child_environment(target, limits, url_env_names=names, extra=extra,
                                 url_options=self.url_session_options, read_only=read_only)

    def run(
        self,
        argv: Sequence[str],
        *,
        target: DatabaseTarget | None,
        what: str,
        limits: SessionLimits | None = None,
        run_id: str | None = None,
        separate_stderr: bool = False,
        read_only: bool = False,
    ) -> CommandResult:
        """Run one of the tool's commands against ``target`` (None: the ambient configuration).

        ``read_only``: the tool's sessions cannot write (for commands that only read, like plan's).
        """
        return run_command(
            argv,
            cwd=self.cwd(),
            env=self.environment(target, limits, run_id=run_id, read_only=read_only),
            what=what,
            separate_stderr=separate_stderr,
        )

    def apply(
        self, target: DatabaseTarget, limits: SessionLimits, *, run_id: str | None = None
    ) -> ApplyResult:
        """Run the migrate command and report what it changed, read from the history table.

        ``applied`` lists the migrations pending before and applied after; when the command fails,
        ``failed`` names the migration it was running (:meth:`started_migration`), or None when it
        failed before starting one (it could not connect, say).
        """
        from pgwarden.pg.connection import connection
        with connection(target) as conn:
            before = {m.name: m.status for m in self.migrations(conn)}
        result = self.run(
            command_argv(self.command()), target=target, limits=limits, run_id=run_id, what=f"{self.name} migrate"
        )
        with connection(target) as conn:
            after = self.migrations(conn)
            failed_now = self.failed(conn)
        was_applied = {name for name, status in before.items() if status is MigrationStatus.APPLIED}
        applied = [m.name for m in after if m.status is MigrationStatus.APPLIED and m.name not in was_applied]
        outcome = ApplyResult(applied=applied, output=result.output, lock_timeout_hit=result.lock_timeout_hit)
        if result.ok and not failed_now:
            return outcome
        if failed_now:
            outcome.failed = failed_now[0].name
        else:
            left = [m.name for m in after if m.status is not MigrationStatus.APPLIED]
            outcome.failed = self.started_migration(result, left, applied)
        outcome.error = _error_summary(self.name, result, started=outcome.failed is not None)
        return outcome

    def started_migration(self, result: CommandResult, left: list[str], applied: list[str]) -> str | None:
        """The migration a failed command was running: the first one left, unless the output shows
        the tool never got to run one (it could not connect)."""
        if not applied and result.connect_failed:
            return None
        return left[0] if left else None


def _error_summary(tool_name: str, result: CommandResult, *, started: bool = True) -> str:
    """The tool's exit code and its last meaningful output lines, for the deploy report."""
    lines = [line.rstrip() for line in result.output.splitlines() if line.strip()]
    tail = "\n".join(lines[-15:])
    status = f"exited with code {result.returncode}" if not result.ok else "recorded a failed migration"
    if result.lock_timeout_hit:
        status += " after hitting lock_timeout (SQLSTATE 55P03)"
    if not started:
        status += (" before it started any migration (could not connect to the database)" if result.connect_failed
                   else " before it started any migration")
    return f"{tool_name} migrate {status}" + (f":\n{tail}" if tail else "")
