"""`lineflow query "SQL" [format=table|csv|json|parquet] [out=FILE] [at=SNAPSHOT]`: read the
warehouse, or a lake as it was at a snapshot.

The way to read `{home}/lineflow.duckdb` while pipelines load it. A connection of another
program (a notebook's `duckdb.connect(..., read_only=True)` left open) holds DuckDB's file lock
and keeps every run out; this command takes the warehouse in turn, like a run's session, with a
read-only connection held for the one query, so it never breaks a run and a run waits at most
as long as the query takes. Nothing it runs can write. With `warehouse.kind=ducklake`, `at=`
(a snapshot id or an ISO time) reads every table and view as it was then: the lines a
prediction was made from, say (docs/warehouse.md).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, Key, choice, path

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

    from lineflow.cli.keys import Parsed

FORMATS = ("table", "csv", "json", "parquet")


def snapshot_at(value: str) -> str:
    """A snapshot id (digits) or an ISO 8601 time (UTC when no offset is given)."""
    import datetime as dt

    if value.isdigit():
        return value
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected a snapshot id or an ISO time, got {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


COMMAND = Command(
    name="query",
    summary="run a read-only SQL query on the warehouse without getting in a run's way",
    usage=(
        '"SQL" [format=table|csv|json|parquet] [out=FILE] [at=SNAPSHOT] [key=value ...]',
        "- [...]",
    ),
    about="""\
Run one read-only SQL statement on the warehouse (home/lineflow.duckdb) and print or write the
rows (`-`: the SQL from standard input). It takes the warehouse in turn with running pipelines
(a run waits at most as long as the query takes, and the query waits at most locks.wait_s for a
run's session), so this, not a connection of your own, is how to read the warehouse while it
loads. For long analyses, export once (out=lines.parquet) and open the file in your notebook as
long as you like. On a lake (warehouse.kind=ducklake), at= reads the tables as they were at a
snapshot: its id (SELECT * FROM warehouse.snapshots()) or a time (2026-01-23T18:00:00Z).""",
    keys=(
        Key(
            "format",
            choice(*FORMATS),
            None,
            "output (default: from out's suffix, else table)",
            "|".join(FORMATS),
        ),
        Key("out", path, None, "write the rows to FILE instead of stdout (parquet needs one)"),
        Key("at", snapshot_at, None, "a lake's snapshot id or ISO time to read at", "SNAPSHOT"),
    ),
    config=(("locks.wait_s=120", "how long to wait for a run's session"),),
    exit_codes=(
        "0 rows written, 2 bad input (SQL error, a statement that writes, no warehouse), "
        "4 the warehouse stayed busy longer than locks.wait_s"
    ),
    examples=(
        'lineflow query "SELECT source, count(*) FROM prop_lines GROUP BY ALL" home=/tmp/lf',
    ),
)


def main(args: Parsed) -> int:
    import sys
    from pathlib import Path

    import duckdb

    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.reporting.recorded import open_stores

    if len(args.words) != 1:
        raise ConfigError('expected one SQL statement: lineflow query "SELECT ..." [key=value]')
    sql = args.words[0]
    if sql == "-":
        sql = sys.stdin.read()
    out: Path | None = args.values["out"]
    kind = args.values["format"] or (out.suffix.lstrip(".").lower() if out else "")
    kind = kind if kind in FORMATS else "table"
    if kind == "parquet" and out is None:
        raise ConfigError("format=parquet: needs out=FILE")
    warehouse = open_stores(compose(args.overrides)).warehouse
    try:
        frame = warehouse.read(sql, at=args.values["at"])
    except duckdb.Error as exc:  # the statement's fault: bad SQL, or one that would write
        raise ConfigError(f"query: {str(exc).strip().splitlines()[0]}") from None
    if kind == "parquet":
        assert out is not None
        frame.write_parquet(out)
        return 0
    writers: dict[str, Callable[[], str]] = {
        "csv": frame.write_csv,
        "json": lambda: frame.write_json() + "\n",
    }
    text = writers.get(kind)
    if out is None:
        sys.stdout.write(text() if text else _table(frame))
    else:
        out.write_text(text() if text else _table(frame), encoding="utf-8")
    return 0


def _table(frame: pl.DataFrame) -> str:
    """The rows as a terminal table, every row, with their count."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*frame.columns, caption=f"{frame.height} row{'' if frame.height == 1 else 's'}")
    for row in frame.iter_rows():
        table.add_row(*("" if value is None else str(value) for value in row))
    import shutil
    import sys

    from lineflow.reporting.output import UNBOUNDED

    # Drawn into a string, so rich cannot see where it goes: a terminal's width on one, and
    # off one (a pipe, a file) unbounded, so that no cell is wrapped or cut to `…`.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else UNBOUNDED
    console = Console(highlight=False, record=True, file=io.StringIO(), width=width)
    console.print(table)
    return console.export_text()
