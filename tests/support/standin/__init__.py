"""A stand-in for The Odds API v4, BettingPros v3 and DraftKings: a real HTTP server on loopback.

lineflow's tests run against it and its recorded fixtures are made with it. The renderers
(`oddsapi`, `bettingpros`, `draftkings`) and the data generator (`datagen`) also work without
a server, so benchmarks can write bodies straight to disk.

    with StandIn(now=datetime(2026, 1, 23, 14, 8, tzinfo=UTC)) as standin:
        httpx.get(f"{standin.url}/v4/sports/basketball_nba/events", params={"apiKey": ...})
"""

from tests.support.standin import bettingpros, datagen, draftkings, oddsapi
from tests.support.standin.bettingpros import (
    forbidden_json,
    offers_json,
    outage_empty_page,
    outage_error_page,
)
from tests.support.standin.datagen import (
    BOOKS,
    INCIDENT_DATE,
    INCONSISTENT_PRICES,
    MARKETS,
    OUT_OF_RANGE,
    SINGLE_BOOK,
    STALE,
    TEAMS,
    Book,
    Game,
    Player,
    Scenario,
    Slate,
    Team,
    incident_bad_players,
    rosters,
    scenario,
    slate,
)
from tests.support.standin.oddsapi import (
    event_json,
    event_odds_json,
    historical_json,
    snapshot_at,
)
from tests.support.standin.server import Answer, Fault, LoggedRequest, StandIn, json_bytes

__all__ = [
    "BOOKS",
    "INCIDENT_DATE",
    "INCONSISTENT_PRICES",
    "MARKETS",
    "OUT_OF_RANGE",
    "SINGLE_BOOK",
    "STALE",
    "TEAMS",
    "Answer",
    "Book",
    "Fault",
    "Game",
    "LoggedRequest",
    "Player",
    "Scenario",
    "Slate",
    "StandIn",
    "Team",
    "bettingpros",
    "datagen",
    "draftkings",
    "event_json",
    "event_odds_json",
    "forbidden_json",
    "historical_json",
    "incident_bad_players",
    "json_bytes",
    "oddsapi",
    "offers_json",
    "outage_empty_page",
    "outage_error_page",
    "rosters",
    "scenario",
    "slate",
    "snapshot_at",
]
