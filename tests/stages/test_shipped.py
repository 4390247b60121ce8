"""Frames between a backfill's processes: Arrow IPC bytes that come back as the same frame."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from lineflow.core.schema import PROP_LINES, conform
from lineflow.pipeline.stages.base import Shipped


def test_a_shipped_frame_comes_back_equal_with_its_types_and_nulls():
    frame = conform(
        pl.DataFrame(
            {
                "slate_date": [date(2026, 1, 23), date(2026, 1, 23), None],
                "source": ["odds_api", "bettingpros", None],
                "player_name": ["Luka Dončić", "", None],
                "line": [24.5, None, -0.5],
                "price_american": [-110, 120, None],
                "is_main_line": [True, False, None],
                "snapshot_at": [datetime(2026, 1, 23, 15, tzinfo=UTC), None, None],
            }
        )
    ).with_columns(reasons=pl.Series([["stale", "one_sided"], [], None]))

    back = pickle.loads(pickle.dumps(Shipped(frame))).frame()

    assert_frame_equal(back, frame)
    assert back.schema == {**PROP_LINES, "reasons": pl.List(pl.String())}


def test_an_empty_frame_keeps_its_columns():
    empty = pl.DataFrame(schema=PROP_LINES)
    assert pickle.loads(pickle.dumps(Shipped(empty))).frame().schema == empty.schema


def test_a_partitions_rows_cross_the_pipe_compressed():
    # Lines repeat their teams, books, markets and players: what crosses is a fraction of it.
    n = 30_000
    frame = pl.DataFrame(
        {
            "bookmaker": pl.Series(["draftkings", "fanduel", "betmgm"])[
                pl.int_range(n, eager=True) % 3
            ],
            "player_name": [f"Player {i % 150}" for i in range(n)],
            "line": [0.5 + i % 40 for i in range(n)],
        }
    )
    crossing = pickle.dumps(Shipped(frame))
    assert len(crossing) < frame.estimated_size() / 4
    assert_frame_equal(pickle.loads(crossing).frame(), frame)
