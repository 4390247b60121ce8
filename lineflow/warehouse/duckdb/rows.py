"""Rows the DuckDB warehouse takes and gives back: manifest, ledger, validation and run rows.

Plain data, no I/O. The frame schemas match the warehouse's tables (`schema.TABLES`), so a frame
of them inserts by name; a few rows go into a statement as SQL literals (`literal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl


@dataclass(frozen=True)
class LandedRow:
    path: str
    file_id: str
    source: str
    endpoint: str
    slate_date: date
    pass_id: str
    bytes: int
    url: str | None
    http_status: int | None
    fetched_at: datetime
    run_id: str


@dataclass(frozen=True)
class Validated:
    """What the validate stage concluded for a partition, from inputs digested as `fingerprint`."""

    fingerprint: str
    status: str
    error: str | None
    notes: list[str]
    rows: int
    run_id: str = ""


@dataclass(frozen=True)
class Consolidation:
    """What a consolidation made `prop_lines` show for its partition: files and rows."""

    files: int
    rows: int


@dataclass(frozen=True)
class StagedFile:
    """One processed file: its manifest row, how many canonical rows it gave, how it went."""

    file: dict[str, Any]
    rows: int
    status: str = "ok"
    error: str | None = None


LANDED_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "file_id": pl.String(),
    "source": pl.String(),
    "endpoint": pl.String(),
    "slate_date": pl.Date(),
    "pass_id": pl.String(),
    "bytes": pl.Int64(),
    "url": pl.String(),
    "http_status": pl.Int32(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}


def landed_frame(rows: Sequence[LandedRow]) -> pl.DataFrame:
    """Manifest rows as a frame of `LANDED_SCHEMA`. Columns from the fields directly:
    dataclasses.astuple deep-copies every value, which cost as much as the insert (a season
    registers 40k files)."""
    return pl.DataFrame(
        {name: [getattr(r, name) for r in rows] for name in LANDED_SCHEMA}, schema=LANDED_SCHEMA
    )


LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "file_id": pl.String(),
    "slate_date": pl.Date(),
    "source": pl.String(),
    "endpoint": pl.String(),
    "status": pl.String(),
    "rows": pl.Int64(),
    "error": pl.String(),
    "processed_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}


@dataclass(frozen=True)
class RunRow:
    run_id: str
    processor: str
    phase: str
    slate_date: date | None
    status: str
    started_at: datetime
    finished_at: datetime
    files: int
    rows: int
    requests: int
    error: str | None


def literal(value: object) -> str:
    """A Python value as a DuckDB SQL literal of the same type, for the few values of a
    bookkeeping statement (run rows, a partition's date). DuckDB's Python client looks for
    pandas twice for every parameter it binds (0.1 ms a parameter: pandas is not installed,
    so each look is a failed search of `sys.path`), which made a run row's insert cost three
    times the statement (docs/benchmarks.md). Strings are quoted the SQL way (DuckDB reads no
    escapes in them); a NUL, which ends a statement's text, is written as `chr(0)`."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"'{value!r}'::DOUBLE"  # read as text: a decimal literal would round twice
    if isinstance(value, datetime):  # before date: a datetime is a date
        kind = "TIMESTAMP" if value.tzinfo is None else "TIMESTAMPTZ"
        return f"{kind} '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        parts = ["'" + part.replace("'", "''") + "'" for part in value.split("\0")]
        return parts[0] if len(parts) == 1 else f"({' || chr(0) || '.join(parts)})"
    raise TypeError(f"no SQL literal for {type(value).__name__}")
