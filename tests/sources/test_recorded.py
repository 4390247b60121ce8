"""The parsers against the recorded responses in fixtures/ (what replay feeds them)."""

from __future__ import annotations

from datetime import date

import polars as pl

from lineflow.http.cassette import Cassette
from lineflow.landing import pass_time
from lineflow.sources import bettingpros, odds_api
from lineflow.sources.base import FileMeta, ParseContext
from tests.conftest import FIXTURES

BP_BOOKS = {
    "10": "fanduel",
    "12": "draftkings",
    "13": "williamhill_us",
    "14": "fanatics",
    "18": "betrivers",
    "19": "betmgm",
    "24": "bet365",
    "33": "espnbet",
}
BP_MARKETS = {
    "156": "player_points",
    "157": "player_rebounds",
    "151": "player_assists",
    "162": "player_threes",
}


def interactions(source: str, day: str, pass_prefix: str = "live-"):
    for path in sorted((FIXTURES / source / day).glob(f"{pass_prefix}*.json.gz")):
        cassette = Cassette.load(path)
        for item in cassette._interactions:
            yield path.name.removesuffix(".json.gz"), item


def meta(source: str, day: str, pid: str) -> FileMeta:
    return FileMeta("f", source, "x", date.fromisoformat(day), pass_time(pid))


def test_odds_api_incident_day_has_81_players_over_16_files():
    frames = []
    for pid, item in interactions("odds_api", "2026-01-23"):
        body = item["response"]["body"]["string"].encode()
        if "/odds?" in item["request"]["uri"]:
            frames.append(
                odds_api.parse_event_odds(body, meta("odds_api", "2026-01-23", pid), ParseContext())
            )
    assert len(frames) == 16
    assert all(f.height > 0 for f in frames)
    lines = pl.concat(frames)
    points = lines.filter(pl.col("market") == "player_points")
    assert points["player_key"].n_unique() == 81
    assert points["event_id"].n_unique() == 8
    assert set(lines["slate_date"].unique()) == {date(2026, 1, 23)}
    assert lines["snapshot_at"].n_unique() == 2, "one snapshot per pass"
    assert lines["bookmaker"].n_unique() >= 4


def test_historical_snapshots_fill_the_days_without_live_props():
    for day in ("2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"):
        live = [
            odds_api.parse_event_odds(
                item["response"]["body"]["string"].encode(),
                meta("odds_api", day, pid),
                ParseContext(),
            )
            for pid, item in interactions("odds_api", day)
            if "/odds?" in item["request"]["uri"]
        ]
        assert live and all(f.is_empty() for f in live), f"{day}: no live props that day"
        history = [
            odds_api.parse_event_odds(
                item["response"]["body"]["string"].encode(),
                meta("odds_api", day, pid),
                ParseContext(),
            )
            for pid, item in interactions("odds_api", day, "history-")
            if "/odds?" in item["request"]["uri"] and item["response"]["status"]["code"] == 200
        ]
        rows = pl.concat(history)
        assert rows.height > 0
        assert rows["snapshot_at"].dt.hour().unique().to_list() == [17], "18:00Z asks for 17:55"


def test_bettingpros_points_rows_per_day():
    for day in ("2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"):
        items = list(interactions("bettingpros", day))
        events_body = next(i for _, i in items if "/v3/events" in i["request"]["uri"])
        events = bettingpros.parse_events(events_body["response"]["body"]["string"].encode())
        ctx = ParseContext(markets=BP_MARKETS, books=BP_BOOKS, events=events)
        offers = pl.concat(
            bettingpros.parse_offers(
                i["response"]["body"]["string"].encode(), meta("bettingpros", day, pid), ctx
            )
            for pid, i in items
            if "/v3/offers" in i["request"]["uri"] and "market_id=156" in i["request"]["uri"]
        )
        assert 300 <= offers.height <= 400, (day, offers.height)
        assert 50 <= offers["player_key"].n_unique() <= 70
        assert offers["commence_time"].null_count() == 0, "every offer joins its event"


def test_bettingpros_answers_403_forbidden_on_the_incident_day():
    items = list(interactions("bettingpros", "2026-01-23"))
    # One answer per link of the proxy chain: decodo, proxyfuel, direct.
    assert [i["response"]["status"]["code"] for _, i in items] == [403, 403, 403]
    assert items[0][1]["response"]["body"]["string"] == '{"message":"Forbidden"}'
