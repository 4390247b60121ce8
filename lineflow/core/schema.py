"""Canonical table schemas shared by parsers, stages and warehouses."""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

#: One row per (source, event, bookmaker, market, player, side, line, snapshot).
PROP_LINES: dict[str, pl.DataType] = {
    "slate_date": pl.Date(),  # the partition: the game's US/Eastern date
    "source": pl.String(),
    "event_id": pl.String(),
    "commence_time": UTC_TS,
    "home_team": pl.String(),
    "away_team": pl.String(),
    "bookmaker": pl.String(),
    "market": pl.String(),
    "player_name": pl.String(),
    "player_key": pl.String(),
    "side": pl.String(),  # "over" | "under"
    "line": pl.Float64(),
    "price_american": pl.Int32(),
    "price_decimal": pl.Float64(),
    "implied_prob": pl.Float64(),
    "is_main_line": pl.Boolean(),
    "last_update": UTC_TS,
    "snapshot_at": UTC_TS,
    "file_id": pl.String(),
    "run_id": pl.String(),
}

#: DuckDB's type for each polars type the schemas here use.
SQL_TYPES: dict[pl.DataType, str] = {
    pl.Date(): "DATE",
    pl.String(): "VARCHAR",
    pl.Float64(): "DOUBLE",
    pl.Int32(): "INTEGER",
    pl.Boolean(): "BOOLEAN",
    pl.Datetime("us", "UTC"): "TIMESTAMPTZ",
}

PROP_LINES_KEY: tuple[str, ...] = (
    "slate_date",
    "source",
    "event_id",
    "bookmaker",
    "market",
    "player_key",
    "side",
    "line",
    "snapshot_at",
)

#: Parsers return these columns; the process stage adds lineage (file_id, run_id).
PARSED_COLUMNS: tuple[str, ...] = tuple(c for c in PROP_LINES if c not in ("file_id", "run_id"))


def empty_prop_lines() -> pl.DataFrame:
    return pl.DataFrame(schema=PROP_LINES)


def number_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Staged rows with `row_no`, their number within their file (0, 1, ... in the order they
    come): a consolidation's drop list names rows by file and number. A file's rows are
    numbered in one batch, as a file is staged in one."""
    return rows.with_columns(row_no=pl.int_range(pl.len(), dtype=pl.Int32).over("file_id"))


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast and order a frame to the prop_lines schema; missing columns become null."""
    if not frame.columns:  # selecting literals from no columns would make one all-null row
        return pl.DataFrame(schema=PROP_LINES)
    columns = [
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in PROP_LINES.items()
    ]
    return frame.select(columns)
