"""``pgwarden`` entry point: parse, dispatch to one command module, map errors to exit codes.

An error or refusal is a message on stderr and an exit code; under ``--format json`` it is also
the one JSON document on stdout (:class:`pgwarden.errors.ErrorReport`), usage errors included.

SIGTERM (``docker stop``, a cancelled CI job) is handled like Ctrl-C: the same clean-up runs (locks
released, half-written files removed, children die with pgwarden, see :mod:`pgwarden.children`),
then exit 143. pgwarden is PID 1 in its image, where an unhandled SIGTERM would be ignored until
the engine's kill. A path pgwarden may not read or write (a report into a mount the container's
user cannot write) is a usage error naming the path, not a traceback.

Only the invoked command's module is imported (:data:`COMMANDS` lists the others by name and help),
and each command module imports its pipeline module inside ``run`` (not to dodge a cycle: the
layering test counts those imports too), so ``pgwarden --help`` does not load every pipeline and a
``pgwarden plan`` run not the other commands' modules.
"""

from __future__ import annotations

import _thread
import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from pgwarden import __version__
from pgwarden.cli.common import Command, Context, add_config_options, json_text, load_context
from pgwarden.errors import EXIT_FAILED, EXIT_USAGE, ConfigError, ErrorReport, PgwardenError
from pgwarden.redact import RedactingFilter, redact


class CommandEntry:
    """A command as ``pgwarden --help`` lists it: its name and one-line help, and the module that
    builds its options and runs it (imported only for the command invoked, see :func:`build_parser`)."""

    __slots__ = ("help", "module", "name")

    def __init__(self, name: str, help: str, module: str) -> None:
        self.name = name
        self.help = help
        self.module = module

    def load(self) -> Command:
        command: Command = importlib.import_module(self.module).COMMAND
        return command


#: Every command, in the order ``--help`` lists them. Adding a command = one module + one entry.
COMMANDS: list[CommandEntry] = [
    CommandEntry("plan", "review pending migrations: risks, live table context, safe alternatives",
                 "pgwarden.cli.plan"),
    CommandEntry("backup", "take a verified pg_dump backup (and snapshot, if configured) into the backup store",
                 "pgwarden.cli.backup"),
    CommandEntry("deploy", "apply pending migrations with a verified backup, timeouts, the lock watchdog and "
                 "hooks", "pgwarden.cli.deploy"),
    CommandEntry("verify", "check migration history, schema health, row counts, custom checks and health URLs",
                 "pgwarden.cli.verify"),
    CommandEntry("restore", "restore a verified backup in place (--confirm DBNAME) or into a new database "
                 "(--into NEWDB)", "pgwarden.cli.restore"),
    CommandEntry("backups", "list, show or prune the backups in the store (retention: backup.retention)",
                 "pgwarden.cli.backups"),
    CommandEntry("status", "show migrations, the newest verified backup and the last deploys",
                 "pgwarden.cli.status"),
    CommandEntry("resolve", "record what became of a migration that started and did not finish (deploy refuses "
                 "until then)", "pgwarden.cli.resolve"),
    CommandEntry("drill", "restore the database's newest verified backup into a scratch database, check it, "
                 "drop it, report", "pgwarden.cli.drill"),
    CommandEntry("rehearse", "run the pending migrations on a restored copy of the database, measure their locks "
                 "and time, drop it", "pgwarden.cli.rehearse"),
    CommandEntry("demo", "run plan -> backup -> deploy -> verify -> restore on an embedded PostgreSQL",
                 "pgwarden.cli.demo"),
    CommandEntry("report", "GitHub reporting: step outputs and summaries, the PR comment, approvals (used by the "
                 "actions)", "pgwarden.cli.report"),
]


#: 128 + SIGTERM, what a shell reports for a process the signal ended.
EXIT_TERMINATED = 128 + signal.SIGTERM


class CommandLineError(ConfigError):
    """A usage error argparse found; the parser has already printed it with the usage line."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: a KeyboardInterrupt, so every clean-up written for Ctrl-C runs for it too."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM must not cut the clean-up the first one started (SIGKILL still ends it).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def _redeliver(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    """An unraisable-exception hook that delivers a lost SIGTERM or Ctrl-C again.

    Python runs a signal's handler at whatever the main thread is doing, and the exception it
    raises is only printed and dropped where Python ignores exceptions: in the callbacks it runs
    after every fork (each subprocess started; seen: the SIGTERM of a rehearsal lost in logging's
    ``_releaseLock`` while pg_restore started, the process going on with the scratch copy), in
    ``__del__`` and in weakref callbacks. The signal is then raised again in the main thread,
    where the clean-up written for it runs.
    """
    def hook(unraisable: Any) -> object:
        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt):
            return previous(unraisable)
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        if signum == signal.SIGTERM:
            signal.signal(signal.SIGTERM, _terminate)
        # From another thread, a moment later: raised here, in the hook, it would be dropped again.
        threading.Timer(0.05, _thread.interrupt_main, args=(signum,)).start()
        return None
    return hook


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` in the main thread on SIGTERM while the command runs (and again if
    Python dropped it, :func:`_redeliver`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _redeliver(previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)


def permission_error(exc: PermissionError) -> ConfigError:
    """The path and the user, instead of a traceback: usually a mount the container's user cannot write."""
    where = exc.filename if exc.filename is not None else exc.strerror or str(exc)
    return ConfigError(
        f"permission denied: {where} (pgwarden runs as uid {os.getuid()}, gid {os.getgid()})",
        hint="give this user write access to the folder, or choose another path (in a container: mount a "
             "folder that uid may write, or run with --user set to the folder's owner)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors name the command and exit 2 without a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {redact(message)}", file=sys.stderr)
        raise CommandLineError(message)


def _indent(text: str, prefix: str = "  ") -> str:
    """``textwrap.indent`` (a prefix on every line that is not blank), without importing textwrap."""
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def build_parser(only: str | None = None, *, list_others: bool = True) -> argparse.ArgumentParser:
    """The parser; with ``only``, the other commands are listed but their modules are not imported nor
    their options built (what their options and runs need is not what a ``pgwarden plan`` run should pay for).
    ``list_others=False`` leaves them out altogether: for a command line that starts with ``only``, whose
    parse never looks at them (each listed command is an argparse parser, 4% of a one-file plan's CPU)."""
    parser = _Parser(
        prog="pgwarden",
        description="Safe production PostgreSQL migrations: plan -> backup -> deploy -> verify -> restore.",
        epilog="Run 'pgwarden COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"pgwarden {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for entry in COMMANDS:
        if only is not None and entry.name != only:
            if not list_others:
                continue
            # Only listed: its description and example show in its own --help, built with only=its name.
            subparsers.add_parser(entry.name, help=entry.help).set_defaults(_command=entry)
            continue
        command = entry.load()
        sub = subparsers.add_parser(
            entry.name,
            help=entry.help,
            description=command.description or entry.help,
            epilog="example:\n" + _indent(command.example.strip()),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.uses_config:
            add_config_options(sub)
        if command.formats:
            sub.add_argument("--format", choices=command.formats, default="text",
                             help="output format (default: text)")
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    return parser


def requested(arguments: Sequence[str]) -> tuple[str | None, bool]:
    """The command named on the command line and whether ``--format json`` was asked for.

    Read before argparse, so that a usage error can still be answered with the JSON document.
    Accepts what argparse accepts: ``--format json``, ``--format=json``, an abbreviation (``--form``).
    """
    names = {c.name for c in COMMANDS}
    step = next((a for a in arguments if not a.startswith("-")), None)
    as_json = False
    for i, arg in enumerate(arguments):
        if arg == "--":
            break
        option, equals, value = arg.partition("=")
        if len(option) >= 4 and "--format".startswith(option):
            if not equals:
                value = arguments[i + 1] if i + 1 < len(arguments) else ""
            as_json = value == "json"
    return (step if step in names else None), as_json


def _print_error(report: ErrorReport, as_json: bool, ctx: Context | None) -> None:
    """The error document on stdout, unless the command already printed its own document."""
    if as_json and not (ctx is not None and ctx.printed_document):
        print(json_text(report.to_json()), file=sys.stdout, flush=True)


def _failed(name: str, exc: PgwardenError, as_json: bool, ctx: Context | None) -> int:
    print(f"pgwarden {name}: {redact(str(exc))}", file=sys.stderr)
    _print_error(ErrorReport.of(name, exc), as_json, ctx)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    arguments = list(sys.argv[1:] if argv is None else argv)
    step, as_json = requested(arguments)
    # The top-level parser's only options are --help and --version: after the command name everything
    # is that command's, so the other commands are not even listed then.
    parser = build_parser(only=step, list_others=step is None or arguments[0] != step)
    try:
        args = parser.parse_args(arguments)
        found: Command | CommandEntry | None = getattr(args, "_command", None)
        if isinstance(found, CommandEntry):
            # Dispatched to a command only listed (``requested`` read another word as the command):
            # parse again with its options built.
            args = build_parser(only=found.name).parse_args(arguments)
            found = args._command
    except CommandLineError as exc:
        _print_error(ErrorReport.of(step, exc), as_json, None)
        return exc.exit_code
    if found is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    assert isinstance(found, Command)
    command = found
    as_json = getattr(args, "format", None) == "json"
    ctx: Context | None = None
    try:
        with _sigterm_as_interrupt():
            ctx = load_context(args)
            return command.run(ctx)
    except PgwardenError as exc:
        return _failed(command.name, exc, as_json, ctx)
    except PermissionError as exc:
        return _failed(command.name, permission_error(exc), as_json, ctx)
    except Terminated:
        print(f"pgwarden {command.name}: terminated (SIGTERM)", file=sys.stderr)
        _print_error(ErrorReport(command.name, EXIT_TERMINATED, "terminated by SIGTERM"), as_json, ctx)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"pgwarden {command.name}: interrupted", file=sys.stderr)
        _print_error(ErrorReport(command.name, EXIT_FAILED, "interrupted"), as_json, ctx)
        return EXIT_FAILED
    except Exception as exc:
        # A bug: the traceback goes to stderr as ever, and the contract still holds on stdout.
        _print_error(ErrorReport(command.name, EXIT_FAILED, f"internal error: {type(exc).__name__}: {exc}",
                                 hint="this is a bug in pgwarden; the traceback is on stderr"), as_json, ctx)
        raise


if __name__ == "__main__":
    raise SystemExit(main())
