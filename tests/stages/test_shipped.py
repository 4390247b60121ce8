"""Frames between a backfill's processes: Arrow IPC bytes that come back as the same frame."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from lineflow.schema import PROP_LINES, conform
from lineflow.stages.base import Shipped


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
