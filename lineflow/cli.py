"""`lineflow` command line: `lineflow COMMAND [key=value ...]`.

Kept light at import time: a command's module, and the heavy libraries it needs, load only
when that command runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from lineflow.allocator import configure
from lineflow.commands import COMMANDS, MAIN_KEYS

TOP_HELP = """\
usage: lineflow COMMAND [key=value ...]
       lineflow --version

Declarative batch pipelines for sports-betting lines.

commands:
{commands}

{main_keys}
Run `lineflow COMMAND --help` for a command's keys. Overrides use Hydra's syntax: key=value,
+key=value to add, list=[a,b].
example: lineflow run date=2026-01-23
"""


def _top_help() -> str:
    width = max(len(name) for name in COMMANDS) + 2
    lines = []
    for name, module in COMMANDS.items():
        summary = importlib.import_module(module).HELP
        lines.append(f"  {name:<{width}}{summary}")
    return TOP_HELP.format(commands="\n".join(lines), main_keys=MAIN_KEYS)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_top_help(), end="")
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from lineflow import __version__

        print(f"lineflow {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"lineflow: error: unknown command {name!r} (commands: {', '.join(COMMANDS)})",
            file=sys.stderr,
        )
        return 2
    configure()  # before any command loads DuckDB or polars
    module = importlib.import_module(COMMANDS[name])
    if any(word in ("-h", "--help") for word in rest):
        print(module.USAGE, end="")
        return 0
    return _dispatch(module, rest)


def _dispatch(module: object, args: list[str]) -> int:
    from lineflow.errors import LineflowError

    try:
        return int(module.main(args))  # type: ignore[attr-defined]
    except LineflowError as exc:
        print(f"lineflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lineflow: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
