"""What every source module provides: parsers from response bytes to canonical frames.

Parsers are pure: bytes plus metadata in, a polars frame out. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

#: Columns of the per-source events frame that props parsers join on.
EVENT_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "commence_time": pl.Datetime("us", "UTC"),
    "home_team": pl.String(),
    "away_team": pl.String(),
}


class ParseError(Exception):
    """The response body cannot be parsed: corrupt, truncated, or not the expected shape."""


class ProviderOutage(Exception):
    """The provider answered 200 but the body says it is down (BettingPros ``["error"]`` pages)."""


@dataclass(frozen=True)
class FileMeta:
    """Manifest facts about one landed response that a parser may use."""

    file_id: str
    source: str
    endpoint: str
    slate_date: date
    fetched_at: datetime  # UTC; the snapshot time of live responses


@dataclass(frozen=True)
class ParseContext:
    """Source configuration and partition facts a parser needs beyond the body."""

    #: provider market key or id (as a string) -> canonical market, e.g. "156" -> "player_points"
    markets: Mapping[str, str] = field(default_factory=dict)
    #: provider book key or id (as a string) -> canonical bookmaker key, e.g. "10" -> "fanduel"
    books: Mapping[str, str] = field(default_factory=dict)
    #: the partition's events for this source (EVENT_COLUMNS), for bodies without team names
    events: pl.DataFrame | None = None


# -- scraping ---------------------------------------------------------------------------------


class SourceBlocked(Exception):
    """The provider refuses us (403/407, a Forbidden or challenge body): not the same as no data."""


class SourceFailed(Exception):
    """The provider answered with an error that retrying cannot fix (bad key, quota, 4xx)."""


@dataclass(frozen=True)
class Call:
    """One request of a source's plan. `endpoint` and `stem` name where its body lands."""

    endpoint: str
    stem: str
    path: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Fetched:
    call: Call
    status: int
    body: bytes
    landed: bool  # the body is in the landing zone (2xx)
    from_landing: bool  # no request was made: the plan had already landed
    #: not asked this run: the request is dead-lettered or waiting for its next attempt
    deferred: bool = False


class Fetch:
    """What a source's `scrape` gets: run calls, landing each 2xx body. Implemented by the stage."""

    def get(self, call: Call) -> Fetched:
        raise NotImplementedError

    def get_many(self, calls: list[Call]) -> list[Fetched]:
        raise NotImplementedError

    def note(self, message: str) -> None:
        """Tell the run summary something worth knowing (a skipped event, an empty page)."""
        raise NotImplementedError
