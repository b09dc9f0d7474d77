"""Write docs/cli.md, the command-line reference, from the argparse parser itself.

    python tools/cli_reference.py           # rewrite docs/cli.md
    python tools/cli_reference.py --check   # exit 1 when docs/cli.md is not current

Every command, subcommand and argument comes from :func:`pgwarden.cli.main.build_parser`
(its descriptions, helps, choices and the ``example:`` epilogs), so the page cannot drift from
``--help``; tests/test_cli_reference.py fails when it is not current. The page is built from the
parser's actions rather than from argparse's own help text, whose layout changes between Python
versions and with the terminal width.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pgwarden.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
REGENERATE = "python tools/cli_reference.py"

HEADER = f"""\
# Command-line reference

<!-- Generated from the argparse parser by tools/cli_reference.py; do not edit by hand.
     Regenerate with: {REGENERATE} -->

The exit codes, the streams and the JSON documents (a failure's too) are described in the
[README's Commands section](../README.md#commands). `pgwarden COMMAND --help` prints the same
options as this page.
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's own arguments: not --help, not the subcommand chooser."""
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "|".join(str(c) for c in action.choices)
    return action.dest.upper() if action.option_strings else action.dest


def _spelling(action: argparse.Action) -> str:
    """``--store URI``, ``--dry-run``, ``PATH ...``, ``[ID]``."""
    if not action.option_strings:
        name = _metavar(action)
        return {"?": f"[{name}]", "*": f"[{name} ...]", "+": f"{name} [{name} ...]"}.get(str(action.nargs), name)
    option = max(action.option_strings, key=len)
    return option if action.nargs == 0 else f"{option} {_metavar(action)}"


def _usage(prog: str, parser: argparse.ArgumentParser) -> str:
    """Positionals and required options spelled out, everything optional as ``[options]``."""
    grouped: dict[argparse.Action, argparse._MutuallyExclusiveGroup] = {}
    for group in parser._mutually_exclusive_groups:
        for action in group._group_actions:
            grouped[action] = group
    parts, done, optional = [], set(), False
    for action in _arguments(parser):
        group = grouped.get(action)
        if group is not None and group.required:
            if id(group) not in done:
                done.add(id(group))
                parts.append("(" + " | ".join(_spelling(a) for a in group._group_actions) + ")")
        elif action.option_strings and not action.required:
            optional = True
        elif action.option_strings:
            parts.append(_spelling(action))
    positionals = [_spelling(a) for a in _arguments(parser) if not a.option_strings]
    if _subcommands(parser):
        positionals.append("SUBCOMMAND ...")
    return " ".join([prog, *parts, *(["[options]"] if optional else []), *positionals])


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": ""}
    if action.required and action.option_strings:
        text += " (required)"
    return text


def _example(parser: argparse.ArgumentParser) -> list[str]:
    epilog = parser.epilog or ""
    if not epilog.startswith("example:"):
        return []
    lines = [line[2:] if line.startswith("  ") else line for line in epilog.splitlines()[1:]]
    return ["Example:", "", "```sh", *lines, "```", ""]


def _section(prog: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} {prog}", "", (parser.description or "").strip(), ""]
    lines += ["```", _usage(prog, parser), "```", ""]
    subcommands = _subcommands(parser)
    if subcommands:
        lines += ["| subcommand | what it does |", "|---|---|"]
        lines += [f"| [`{name}`](#{_anchor(f'{prog} {name}')}) | {_cell(sub.description or '')} |"
                  for name, sub in subcommands.items()]
        lines.append("")
    arguments = _arguments(parser)
    if arguments:
        lines += ["| argument | meaning |", "|---|---|"]
        positionals_first = sorted(arguments, key=lambda a: bool(a.option_strings))
        lines += [f"| `{_cell(_spelling(a))}` | {_cell(_help(a))} |" for a in positionals_first]
        lines.append("")
    for group in parser._mutually_exclusive_groups:
        names = ", ".join(f"`{max(a.option_strings, key=len)}`" for a in group._group_actions)
        lines += [f"{'Exactly' if group.required else 'At most'} one of {names}.", ""]
    lines += _example(parser)
    for name, sub in subcommands.items():
        lines += _section(f"{prog} {name}", sub, level + 1)
    return lines


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, spaces to dashes, other punctuation dropped."""
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def render() -> str:
    """The whole page, as it should be on disk."""
    parser = build_parser()
    commands = _subcommands(parser)
    lines = [HEADER, " · ".join(f"[{name}](#{_anchor('pgwarden ' + name)})" for name in commands), ""]
    for name, sub in commands.items():
        lines += _section(f"pgwarden {name}", sub, 2)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/cli.md from pgwarden's argparse parser.")
    parser.add_argument("--check", action="store_true", help="only check that docs/cli.md is current")
    args = parser.parse_args(argv)
    text = render()
    current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
    if args.check:
        if current != text:
            print(f"{PAGE.relative_to(ROOT)} is not current: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
        print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
