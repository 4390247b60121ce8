"""`lineflow` command line: `lineflow COMMAND [word ...] [key=value ...] [options]`.

Each command module declares a `COMMAND` (`lineflow.commands.keys.Command`: its keys, help and
usage) and `main(parsed) -> int`. This module parses the command line with that declaration,
sets the log level (-v/-q), answers --help, --shell-completion and the hidden `__complete`,
and turns a `LineflowError` into one line and its exit code.

Kept light at import time: a command's module is a declaration; the heavy libraries it needs
load inside its `main`, so `lineflow --help` and shell completion stay fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from lineflow.commands import COMMANDS
from lineflow.commands.keys import Command, Parsed
from lineflow.errors import ConfigError, LineflowError

TOP_HELP = """\
usage: lineflow COMMAND [key=value ...] [-v|-q]

Declarative batch pipelines for sports-betting lines.

commands:
{commands}

Run `lineflow COMMAND --help` for a command's keys. Config overrides use Hydra's syntax:
key=value, +key=value to add, list=[a,b].

options:
  --version                        print the version
  --shell-completion install=bash  print a completion script (bash, zsh or fish) to eval;
                                   e.g. eval "$(lineflow --shell-completion install=bash)"
example: lineflow run date=2026-01-23
"""


def command(name: str) -> Any:
    """A command's module (its `COMMAND` declaration and `main`)."""
    return importlib.import_module(COMMANDS[name])


def _top_help() -> str:
    width = max(len(name) for name in COMMANDS) + 2
    lines = [f"  {name:<{width}}{command(name).COMMAND.summary}" for name in COMMANDS]
    return TOP_HELP.format(commands="\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except LineflowError as exc:
        print(f"lineflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lineflow: interrupted", file=sys.stderr)
        return 130


def _main(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(_top_help(), end="")
        return 0 if args else 2
    first, rest = args[0], args[1:]
    if first in ("--shell-completion", "-sc"):
        from lineflow.commands.completion import script

        print(script(rest), end="")
        return 0
    if first == "__complete":  # what a completion script asks for
        from lineflow.commands.completion import complete

        print("\n".join(complete(rest)))
        return 0
    if first == "--version":
        return inspect(None, Parsed(version=True))
    if first.startswith("-"):
        raise ConfigError(f"unknown option {first!r} (options come after the command)")
    if first not in COMMANDS:
        raise ConfigError(f"unknown command {first!r} (commands: {', '.join(COMMANDS)})")
    from lineflow.allocator import configure

    configure()  # before any command loads DuckDB or polars
    module = command(first)
    parsed = module.COMMAND.parse(rest)
    if parsed.help:
        print(module.COMMAND.help(), end="")
        return 0
    if parsed.cfg or parsed.info or parsed.version:
        return inspect(module.COMMAND, parsed)
    from lineflow.logs import set_level

    set_level(parsed.level)
    return int(module.main(parsed))


def inspect(declared: Command | None, parsed: Parsed) -> int:
    """--cfg job|all, --info and --version: the composed config (`parsed.overrides`), the
    search path, the version. The parser recognises the options (`parsed.cfg`, `.info`,
    `.version`); what they print is wired in here separately.
    """
    raise ConfigError("--cfg, --info and --version are not available in this build")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
