"""`lineflow` command line: `lineflow COMMAND [word ...] [key=value ...] [options]`.

Each command module declares a `COMMAND` (`lineflow.cli.keys.Command`: its keys, help and
usage) and `main(parsed) -> int`. This module parses the command line with that declaration,
sets the log level (-v/-q), answers --help, --shell-completion and the hidden `__complete`,
and turns a `LineflowError` into one line and its exit code (an `OSError` naming a file, such
as a full disk's, into one line naming the file and the cause, exit 1).

Kept light at import time: a command's module is a declaration; the heavy libraries it needs
load inside its `main`, so `lineflow --help` and shell completion stay fast.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Any, Literal

from lineflow.cli.commands import COMMANDS
from lineflow.cli.keys import Parsed
from lineflow.core.errors import ConfigError, LineflowError

TOP_HELP = """\
usage: lineflow COMMAND [key=value ...] [-v|-q] [--cfg job|all] [--info]
       lineflow --version

Declarative batch pipelines for sports-betting lines.

commands:
{commands}

Run `lineflow COMMAND --help` for a command's keys. Config overrides use Hydra's syntax:
key=value, +key=value to add, list=[a,b].

options:
  -V, --version                    print the version
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
        return _main(args, own_process=argv is None)
    except LineflowError as exc:
        print(f"lineflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lineflow: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.filename is None or exc.strerror is None:
            raise  # not the file system's: a bug, with its traceback
        # A file lineflow cannot write (full disk, read-only, permissions): the file and why.
        print(f"lineflow: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1


def _main(args: list[str], own_process: bool = False) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(_top_help(), end="")
        return 0 if args else 2
    first, rest = args[0], args[1:]
    if first in ("--shell-completion", "-sc"):
        from lineflow.cli.completion import script

        print(script(rest), end="")
        return 0
    if first == "__complete":  # what a completion script asks for
        from lineflow.cli.completion import complete

        print("\n".join(complete(rest)))
        return 0
    if first in ("-V", "--version"):
        return inspect(Parsed(version=True))
    if first.startswith("-"):
        raise ConfigError(f"unknown option {first!r} (options come after the command)")
    if first not in COMMANDS:
        raise ConfigError(f"unknown command {first!r} (commands: {', '.join(COMMANDS)})")
    from lineflow.core.allocator import configure

    configure()  # before any command loads DuckDB or polars
    module = command(first)
    parsed = module.COMMAND.parse(rest)
    if parsed.help:
        print(module.COMMAND.help(), end="")
        return 0
    if parsed.cfg or parsed.info or parsed.version:
        return inspect(parsed)
    if own_process:
        # What parsing loaded (the config's pydantic models, polars, for a command taking a
        # date) lives as long as the process: exempt from the cycle collector's traversals,
        # which ran over it again in every full collection the command's work triggered
        # (half of `status`'s collecting, 25-30 CPU ms; docs/benchmarks.md). Not for a caller
        # in another process's life (a test), whose garbage would be frozen with it.
        gc.freeze()
    from lineflow.pipeline.logs import set_level

    set_level(parsed.level)
    return int(module.main(parsed))


def inspect(parsed: Parsed) -> int:
    """--version, --cfg job|all [--resolve] and --info, as Hydra apps have them: the version,
    the config the command line composes (validated; secrets are env-var names only), the
    config search path. Nothing runs."""
    if parsed.version:
        from lineflow.core.version import __version__

        print(f"lineflow {__version__}")
    elif parsed.cfg is not None:
        from lineflow.config import render_config

        which: Literal["job", "all"] = "all" if parsed.cfg == "all" else "job"
        print(render_config(parsed.overrides, which, resolve=parsed.resolve), end="")
    else:
        from lineflow.config import render_search_path

        print(render_search_path(), end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
