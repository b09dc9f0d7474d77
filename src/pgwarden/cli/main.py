"""``pgwarden`` entry point: parse, dispatch to one command module, map errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence

from pgwarden import __version__
from pgwarden.cli import backup, backups, demo, deploy, drill, plan, report, restore, status, verify
from pgwarden.cli.common import Command, add_config_options, load_context
from pgwarden.errors import EXIT_FAILED, EXIT_USAGE, PgwardenError
from pgwarden.redact import RedactingFilter, redact

#: Every command, in the order ``--help`` lists them. Adding a command = one module + one entry.
COMMANDS: list[Command] = [
    plan.COMMAND,
    backup.COMMAND,
    deploy.COMMAND,
    verify.COMMAND,
    restore.COMMAND,
    backups.COMMAND,
    status.COMMAND,
    drill.COMMAND,
    demo.COMMAND,
    report.COMMAND,
]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors name the command and exit 2 without a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {redact(message)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgwarden",
        description="Safe production PostgreSQL migrations: plan -> backup -> deploy -> verify -> restore.",
        epilog="Run 'pgwarden COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"pgwarden {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            epilog="example:\n" + textwrap.indent(command.example.strip(), "  "),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.uses_config:
            add_config_options(sub)
        sub.add_argument("--format", choices=command.formats, default="text", help="output format (default: text)")
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        ctx = load_context(args)
        return command.run(ctx)
    except PgwardenError as exc:
        print(f"pgwarden {command.name}: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"pgwarden {command.name}: interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
