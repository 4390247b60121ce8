"""Rows the DuckDB warehouse takes and gives back: manifest, ledger, validation and run rows.

Plain data, no I/O. The frame schemas match the warehouse's tables (`schema.TABLES`), so a frame
of them inserts by name.
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
