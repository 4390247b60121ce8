"""Where reports go: a terminal, a pipe, or a JSON document.

Every command that prints a report takes `format=table` (the default) or `format=json`
(docs/output.md lists each command's JSON keys). In JSON mode stdout carries only the JSON
document; errors stay one line on stderr with the same exit codes.

Off a terminal (`| cat`, a CI log) tables are printed whole, never wrapped at the 80 columns
rich assumes for a pipe nor cut to `…`: a line of a table is as long as its longest cell.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console

#: The width given to a console writing to a pipe or a file: no table reaches it, so rich
#: neither wraps a cell nor elides one (it lays a table out at its natural width).
UNBOUNDED = 100_000


def console(file: IO[str] | None = None) -> Console:
    """A console for a command's report: the terminal's width on a terminal, unbounded off one."""
    stream = file or sys.stdout
    if stream.isatty():
        return Console(file=file, highlight=False)
    return Console(file=file, highlight=False, width=UNBOUNDED, soft_wrap=False)


def plain(value: Any) -> Any:
    """JSON-able data: dates and times as ISO 8601, paths as text, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(data: Any) -> str:
    """The JSON document of a report, as every command writes it."""
    return json.dumps(plain(data), indent=2, default=str) + "\n"


def emit(data: Any) -> None:
    """Write a report's JSON document to stdout, alone."""
    sys.stdout.write(dumps(data))
    sys.stdout.flush()


def figures_text(figures: dict[str, int]) -> str:
    """`{"files_landed": 17}` as `17 files landed`: every figure names its unit."""
    return ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in figures.items())
