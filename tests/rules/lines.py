"""Small prop_lines frames for rule tests: a sane line, then whatever a test changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from lineflow.core.schema import conform

SNAP = datetime(2026, 1, 23, 14, 33, tzinfo=UTC)
TIP = datetime(2026, 1, 24, 0, 30, tzinfo=UTC)


def quote(**changes: Any) -> dict[str, Any]:
    """One over/under side of a main line, fresh, at sane prices; `changes` override fields."""
    row: dict[str, Any] = {
        "slate_date": date(2026, 1, 23),
        "source": "odds_api",
        "event_id": "e1",
        "commence_time": TIP,
        "home_team": "Home",
        "away_team": "Away",
        "bookmaker": "draftkings",
        "market": "player_points",
        "player_name": "Test Player",
        "player_key": "test_player",
        "side": "over",
        "line": 18.5,
        "price_american": -110,
        "price_decimal": 1.909,
        "implied_prob": 0.5238,
        "is_main_line": True,
        "last_update": SNAP - timedelta(minutes=5),
        "snapshot_at": SNAP,
        "file_id": "f1",
        "run_id": "r1",
    }
    row.update(changes)
    return row


def pair(**changes: Any) -> list[dict[str, Any]]:
    """Both sides of a line at -110/-110 (implied sum 1.048)."""
    return [quote(**{**changes, "side": "over"}), quote(**{**changes, "side": "under"})]


def frame(*rows: dict[str, Any] | list[dict[str, Any]]) -> pl.DataFrame:
    flat: list[dict[str, Any]] = []
    for r in rows:
        flat.extend(r if isinstance(r, list) else [r])
    return conform(pl.DataFrame(flat, infer_schema_length=None))


def books(*names: str, **changes: Any) -> list[dict[str, Any]]:
    """The same line at several books, both sides."""
    return [row for name in names for row in pair(bookmaker=name, **changes)]
