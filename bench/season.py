"""A synthetic season written straight into a landing zone, without a server.

The bodies are the stand-in provider's own renderers, so they are byte for byte what a live
scrape of the stand-in would land, under the same paths:

    {root}/{source}/{endpoint}/{slate_date}/{pass_id}/{stem}.json

Each date gets several live passes (a new snapshot of every line each time), which is how a
real season reaches millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from lineflow.landing import LandingPath, LandingZone, pass_id
from tests.support.standin import bettingpros, datagen, oddsapi
from tests.support.standin.server import json_bytes

#: Opening night of the 2025-26 regular season; a season of N dates runs N days from here.
SEASON_START = date(2025, 10, 21)
#: Live passes of a date, UTC hours on the slate date (lines open at 10:00, tip-off after 00:00).
PASS_HOURS = tuple(range(11, 23))
#: BettingPros market ids in the order conf/source/bettingpros.yaml asks for them.
BP_MARKETS = (156, 157, 151, 162)
#: The page size lineflow asks BettingPros for (the API caps it at 10).
BP_PAGE_LIMIT = 10


@dataclass
class SeasonStats:
    """What was written: files and bytes (`sizes`) per source/endpoint."""

    dates: list[date]
    passes: int
    games: int = 0
    files: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def add(self, where: LandingPath, body: bytes) -> None:
        key = f"{where.source}/{where.endpoint}"
        self.files[key] = self.files.get(key, 0) + 1
        self.sizes[key] = self.sizes.get(key, 0) + len(body)

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


def season_dates(count: int, start: date = SEASON_START) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]


def pass_times(day: date, passes: int) -> list[datetime]:
    if not 1 <= passes <= len(PASS_HOURS):
        raise ValueError(f"passes: between 1 and {len(PASS_HOURS)}, got {passes}")
    return [datetime.combine(day, time(hour), UTC) for hour in PASS_HOURS[:passes]]


def games_of(day: date, games: int | None) -> tuple[datagen.Game, ...]:
    """The date's games from the stand-in's generator, the first `games` of them if given."""
    all_games = datagen.slate(day).games
    return all_games if games is None else all_games[:games]


def date_bodies(
    day: date, at: datetime, games: tuple[datagen.Game, ...]
) -> Iterator[tuple[LandingPath, bytes]]:
    """Every body one live pass of both sources lands for `day`, as the stand-in renders it."""
    pid = pass_id("live", at)
    yield (
        LandingPath("odds_api", "events", day, pid, "events"),
        json_bytes([oddsapi.event_json(g) for g in games]),
    )
    for game in games:
        body = oddsapi.event_odds_json(game, at, odds_format="american")
        yield LandingPath("odds_api", "player_props", day, pid, game.event_id), json_bytes(body)
    events = bettingpros.events_json(day, at)
    wanted = {g.bp_event_id for g in games}
    events["events"] = [e for e in events["events"] if e["id"] in wanted]
    yield LandingPath("bettingpros", "events", day, pid, "events"), json_bytes(events)
    for market in BP_MARKETS:
        page, total_pages = 1, 1
        while page <= total_pages:
            body = bettingpros.offers_json(games, [market], at, page=page, limit=BP_PAGE_LIMIT)
            total_pages = int(body["_pagination"]["total_pages"])
            yield (
                LandingPath("bettingpros", "offers", day, pid, f"m{market}-p{page}"),
                json_bytes(body),
            )
            page += 1


def generate(root: Path, dates: list[date], passes: int, games: int | None = None) -> SeasonStats:
    """Write the season under `root` (write-once: an existing identical file is left alone)."""
    landing = LandingZone(root)
    stats = SeasonStats(dates=list(dates), passes=passes)
    for day in dates:
        chosen = games_of(day, games)
        stats.games += len(chosen)
        for at in pass_times(day, passes):
            for where, body in date_bodies(day, at, chosen):
                landing.write(where, body)
                stats.add(where, body)
    return stats
