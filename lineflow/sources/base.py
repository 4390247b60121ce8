"""What every source module provides: parsers from response bytes to canonical frames.

Parsers are pure: bytes plus metadata in, a polars frame out. No I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

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


# -- helpers every parser uses ------------------------------------------------------------------


def decode_json(body: bytes, what: str) -> Any:
    """The body as JSON, or a `ParseError` saying in one line what is wrong with it."""
    if body[:2] == b"\x1f\x8b":
        raise ParseError(f"{what}: body is still gzip-compressed")
    if not body.strip():
        raise ParseError(f"{what}: empty body")
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise ParseError(f"{what}: body is not UTF-8 (bad byte at {exc.start})") from exc
    except json.JSONDecodeError as exc:
        at_byte = len(exc.doc[: exc.pos].encode())
        truncated = exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated")
        hint = " (truncated?)" if truncated else ""
        raise ParseError(f"{what}: invalid JSON at byte {at_byte}: {exc.msg}{hint}") from exc


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes in metadata are UTC by convention."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def kind_of(value: Any) -> str:
    kinds: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return kinds.get(type(value), type(value).__name__)


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
