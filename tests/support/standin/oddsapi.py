"""The Odds API v4 as the stand-in serves it: bodies, errors, quota accounting and routes.

Follows docs/reference providers.md §1. The renderers are pure (game and time in, JSON-ready
dict out) so benchmarks can write bodies without a server; `route` adds auth, parameter
validation and the quota headers around them.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from tests.support.standin import datagen
from tests.support.standin.datagen import Book, Game

SPORT_KEY = "basketball_nba"
SPORT_TITLE = "NBA"
#: Market keys the stand-in prices, mapped to datagen's canonical market names.
PROP_MARKETS: dict[str, str] = {
    "player_points": "points",
    "player_rebounds": "rebounds",
    "player_assists": "assists",
    "player_threes": "threes",
}
_FEATURED = ("h2h", "spreads", "totals", "outrights", "h2h_lay", "outrights_lay")
# Valid keys the stand-in does not price: accepted, and simply absent from the answer.
_OTHER_MARKETS = (
    "h2h_q1",
    "h2h_h1",
    "spreads_q1",
    "spreads_h1",
    "totals_q1",
    "totals_h1",
    "alternate_spreads",
    "alternate_totals",
    "team_totals",
    "player_blocks",
    "player_steals",
    "player_blocks_steals",
    "player_turnovers",
    "player_points_rebounds_assists",
    "player_points_rebounds",
    "player_points_assists",
    "player_rebounds_assists",
    "player_field_goals",
    "player_frees_made",
    "player_frees_attempts",
    "player_points_q1",
    "player_rebounds_q1",
    "player_assists_q1",
    "player_first_basket",
    "player_first_team_basket",
    "player_double_double",
    "player_triple_double",
    "player_method_of_first_basket",
    "player_fantasy_points",
    "player_points_alternate",
    "player_rebounds_alternate",
    "player_assists_alternate",
    "player_blocks_alternate",
    "player_steals_alternate",
    "player_turnovers_alternate",
    "player_threes_alternate",
    "player_points_assists_alternate",
    "player_points_rebounds_alternate",
    "player_rebounds_assists_alternate",
    "player_points_rebounds_assists_alternate",
    "player_fantasy_points_alternate",
)
VALID_MARKETS = frozenset((*PROP_MARKETS, *_FEATURED, *_OTHER_MARKETS))
REGIONS = frozenset(("us", "us2", "uk", "eu", "au", "us_dfs", "us_ex", "fr", "se"))
#: Snapshots land every 5 minutes, 39 seconds past the minute (as in the docs' example).
ARCHIVE_STEP = timedelta(minutes=5)
ARCHIVE_SECOND = 39
#: Historical props exist from here on.
ARCHIVE_START = datetime(2023, 5, 3, 5, 30, tzinfo=UTC)
#: A game stays in the live events list this long after tip-off (in play).
IN_PLAY = timedelta(hours=3)

_DETAILS = "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html"
_MESSAGES = {
    "MISSING_KEY": "API key is missing",
    "INVALID_KEY": "API key is not valid. Get an API key at https://the-odds-api.com",
    "OUT_OF_USAGE_CREDITS": (
        "Usage quota has been reached. See usage plans at https://the-odds-api.com"
    ),
    "MISSING_REGION": "Missing regions or bookmakers key",
    "EVENT_NOT_FOUND": "Event not found. The event may have expired or the event id is invalid.",
    "UNKNOWN_SPORT": "Unknown sport. Get a list of sports keys from the /sports endpoint",
    "EXCEEDED_FREQ_LIMIT": "Requests are being sent too frequently. Retry in a few seconds.",
}

# -- quota -------------------------------------------------------------------------------------


class Quota:
    """The account's usage credits, shared by concurrent requests."""

    def __init__(self, remaining: int = 20000, used: int = 0) -> None:
        self._lock = threading.Lock()
        self.remaining = remaining
        self.used = used

    def set(self, remaining: int, used: int | None = None) -> None:
        with self._lock:
            self.remaining = remaining
            if used is not None:
                self.used = used

    def charge(self, cost: int) -> dict[str, str] | None:
        """Take `cost` credits and return the quota headers; None when the credits can't pay."""
        with self._lock:
            if cost > self.remaining:
                return None
            self.remaining -= cost
            self.used += cost
            return self.headers(cost)

    def headers(self, last: int = 0) -> dict[str, str]:
        return {
            "x-requests-remaining": str(self.remaining),
            "x-requests-used": str(self.used),
            "x-requests-last": str(last),
        }


# -- renderers ---------------------------------------------------------------------------------


def event_json(game: Game, date_format: str = "iso") -> dict[str, Any]:
    """An event as the events list shows it (no odds)."""
    return {
        "id": game.event_id,
        "sport_key": SPORT_KEY,
        "sport_title": SPORT_TITLE,
        "commence_time": _time(game.commence_time, date_format),
        "home_team": game.home.name,
        "away_team": game.away.name,
    }


def event_odds_json(
    game: Game,
    at: datetime,
    *,
    markets: tuple[str, ...] = tuple(PROP_MARKETS),
    bookmakers: tuple[str, ...] | None = None,
    odds_format: str = "decimal",
    date_format: str = "iso",
    historical: bool = False,
    props: bool = True,
) -> dict[str, Any]:
    """The event-odds object for `game` as of `at`.

    `bookmakers` limits the books (None = the us region); `props=False` renders the empty
    answer (`"bookmakers": []`). Historical bodies also carry a bookmaker-level `last_update`;
    live ones only have it per market (as the real API does).
    """
    body = event_json(game, date_format)
    wanted = tuple(PROP_MARKETS[m] for m in markets if m in PROP_MARKETS)
    if not props or not wanted:
        return {**body, "bookmakers": []}
    books = _rotated(
        game, tuple(b for b in datagen.ODDS_API_BOOKS if bookmakers is None or b.key in bookmakers)
    )
    boards = datagen.odds_api_board(game, at, wanted, books)
    rendered = []
    for book in books:
        own = [m for m in boards if m.book == book]
        if not own:
            continue
        entry: dict[str, Any] = {"key": book.key, "title": book.title}
        if historical:
            entry["last_update"] = _time(max(m.last_update for m in own), date_format)
        entry["markets"] = [_market_json(m, odds_format, date_format) for m in own]
        rendered.append(entry)
    return {**body, "bookmakers": rendered}


def _market_json(market: datagen.BookMarket, odds_format: str, date_format: str) -> dict[str, Any]:
    under_first = market.book.key == "betonlineag"  # BetOnline lists Under before Over
    price = datagen.decimal_price if odds_format == "decimal" else _same
    outcomes: list[dict[str, Any]] = []
    for q in market.quotes:
        over = {
            "name": "Over",
            "description": q.player.name,
            "price": price(q.over),
            "point": q.line,
        }
        under = {
            "name": "Under",
            "description": q.player.name,
            "price": price(q.under),
            "point": q.line,
        }
        outcomes.extend((under, over) if under_first else (over, under))
    return {
        "key": f"player_{market.market}",
        "last_update": _time(market.last_update, date_format),
        "outcomes": outcomes,
    }


def markets_returned(event_odds: Mapping[str, Any]) -> int:
    """Unique market keys in an event-odds body: what its quota cost counts."""
    return len({m["key"] for b in event_odds["bookmakers"] for m in b["markets"]})


def snapshot_at(requested: datetime) -> datetime:
    """The archive snapshot at or before `requested`: every 5 minutes at :MM:39 (MM % 5 == 0).

    E.g. 18:00:00Z -> 17:55:39Z, 18:00:39Z -> 18:00:39Z, 18:04:00Z -> 18:00:39Z.
    """
    seconds = int(requested.timestamp()) - ARCHIVE_SECOND
    step = int(ARCHIVE_STEP.total_seconds())
    return datetime.fromtimestamp(seconds - seconds % step + ARCHIVE_SECOND, UTC)


def historical_json(snapshot: datetime, data: Any, now: datetime) -> dict[str, Any]:
    """The historical wrapper; the neighbours are null past the archive's edges."""
    previous, following = snapshot - ARCHIVE_STEP, snapshot + ARCHIVE_STEP
    return {
        "timestamp": _iso(snapshot),
        "previous_timestamp": _iso(previous) if previous >= ARCHIVE_START else None,
        "next_timestamp": _iso(following) if following <= now else None,
        "data": data,
    }


# (key, group, title, description, in season) of the sports the /sports list shows.
_SPORTS = (
    ("americanfootball_nfl", "American Football", "NFL", "US Football", True),
    ("baseball_mlb", "Baseball", "MLB", "Major League Baseball", True),
    (SPORT_KEY, "Basketball", SPORT_TITLE, "US Basketball", True),
    ("basketball_wnba", "Basketball", "WNBA", "US Basketball", False),
    ("icehockey_nhl", "Ice Hockey", "NHL", "US Ice Hockey", True),
)


def sports_json(include_all: bool = False) -> list[dict[str, Any]]:
    """`/v4/sports`: in-season sports, or all of them (`all=true`)."""
    return [
        {
            "key": key,
            "group": group,
            "title": title,
            "description": description,
            "active": active,
            "has_outrights": False,
        }
        for key, group, title, description, active in _SPORTS
        if active or include_all
    ]


def error_json(code: str, message: str | None = None) -> dict[str, str]:
    """The API's error body: message, error_code and a details_url anchored at the code."""
    return {
        "message": message or _MESSAGES.get(code, code.replace("_", " ").capitalize()),
        "error_code": code,
        "details_url": f"{_DETAILS}#{code.lower().replace('_', '-')}",
    }


# -- routes ------------------------------------------------------------------------------------

_ROUTES = (
    ("sports", re.compile(r"^/v4/sports/?$")),
    ("events", re.compile(r"^/v4/sports/(?P<sport>[^/]+)/events/?$")),
    ("event_odds", re.compile(r"^/v4/sports/(?P<sport>[^/]+)/events/(?P<event>[^/]+)/odds/?$")),
    ("odds", re.compile(r"^/v4/sports/(?P<sport>[^/]+)/odds/?$")),
    ("historical_events", re.compile(r"^/v4/historical/sports/(?P<sport>[^/]+)/events/?$")),
    (
        "historical_event_odds",
        re.compile(r"^/v4/historical/sports/(?P<sport>[^/]+)/events/(?P<event>[^/]+)/odds/?$"),
    ),
)


class _Invalid(Exception):
    """A request the API refuses before any work: (status, error code, message)."""

    def __init__(self, status: int, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def route(
    path: str, query: Mapping[str, str], *, now: datetime, api_key: str, quota: Quota
) -> tuple[int, Any, dict[str, str]]:
    """Answer one GET under /v4/ as (status, JSON-ready body, headers), charging `quota`."""
    key = query.get("apiKey", query.get("api_key"))
    if not key:
        return 401, error_json("MISSING_KEY"), {}  # auth errors carry no quota headers
    if key != api_key:
        return 401, error_json("INVALID_KEY"), {}
    found = next(((name, m) for name, p in _ROUTES if (m := p.match(path))), None)
    if found is None:
        return 404, {"message": "Not Found"}, quota.headers()
    name, args = found[0], found[1].groupdict()
    try:
        if args.get("sport", SPORT_KEY) != SPORT_KEY:
            raise _Invalid(404, "UNKNOWN_SPORT")
        body, cost = _HANDLERS[name](args, query, now)
    except _Invalid as refused:
        return refused.status, error_json(refused.code, refused.message), quota.headers()
    headers = quota.charge(cost)
    if headers is None:
        spent = {**quota.headers(), "x-requests-remaining": "0"}
        return 401, error_json("OUT_OF_USAGE_CREDITS"), spent
    return 200, body, headers


def _sports(_: dict[str, str], query: Mapping[str, str], now: datetime) -> tuple[Any, int]:
    return sports_json(include_all=query.get("all") == "true"), 0


def _events(_: dict[str, str], query: Mapping[str, str], now: datetime) -> tuple[Any, int]:
    date_format = _date_format(query)
    games = [g for g in datagen.games_around(now) if g.commence_time > now - IN_PLAY]
    return [event_json(g, date_format) for g in _filtered(games, query)], 0


def _event_odds(args: dict[str, str], query: Mapping[str, str], now: datetime) -> tuple[Any, int]:
    options = _odds_options(query)
    game = datagen.find_game(args["event"], now)
    if game is None or now >= game.commence_time + IN_PLAY:
        raise _Invalid(404, "EVENT_NOT_FOUND")
    # Props come down at tip-off; before that the date's scenario decides.
    props = datagen.scenario(game.slate_date).odds_api_live_props and now < game.commence_time
    body = event_odds_json(game, now, props=props, **options.render)
    return body, markets_returned(body) * options.regions


def _bulk_odds(_: dict[str, str], query: Mapping[str, str], now: datetime) -> tuple[Any, int]:
    markets = _markets(query)
    unsupported = [m for m in markets if m not in _FEATURED]
    if unsupported:
        raise _Invalid(
            422,
            "INVALID_MARKET",
            f"Markets not supported by this endpoint: {', '.join(unsupported)}",
        )
    _regions(query)
    # The stand-in prices no featured markets: every event comes back without bookmakers.
    games = [g for g in datagen.games_around(now) if g.commence_time > now]
    date_format = _date_format(query)
    return [{**event_json(g, date_format), "bookmakers": []} for g in _filtered(games, query)], 0


def _historical_events(
    _: dict[str, str], query: Mapping[str, str], now: datetime
) -> tuple[Any, int]:
    snapshot = _snapshot(query, now)
    date_format = _date_format(query)
    games = [g for g in datagen.games_around(snapshot) if g.commence_time > snapshot]
    data = [event_json(g, date_format) for g in _filtered(games, query)]
    return historical_json(snapshot, data, now), 1 if data else 0


def _historical_event_odds(
    args: dict[str, str], query: Mapping[str, str], now: datetime
) -> tuple[Any, int]:
    snapshot = _snapshot(query, now)
    options = _odds_options(query)
    game = datagen.find_game(args["event"], snapshot)
    # Events leave the archive at tip-off.
    if game is None or snapshot >= game.commence_time:
        raise _Invalid(404, "EVENT_NOT_FOUND")
    props = game.index not in datagen.scenario(game.slate_date).historical_empty_games
    body = event_odds_json(game, snapshot, props=props, historical=True, **options.render)
    return historical_json(snapshot, body, now), 10 * markets_returned(body) * options.regions


_HANDLERS = {
    "sports": _sports,
    "events": _events,
    "event_odds": _event_odds,
    "odds": _bulk_odds,
    "historical_events": _historical_events,
    "historical_event_odds": _historical_event_odds,
}


# -- parameters --------------------------------------------------------------------------------


class _OddsOptions(NamedTuple):
    render: dict[str, Any]  # keyword arguments of event_odds_json
    regions: int  # the cost multiplier


def _odds_options(query: Mapping[str, str]) -> _OddsOptions:
    """Validate the event-odds parameters."""
    markets = _markets(query)
    odds_format = query.get("oddsFormat", "decimal")
    if odds_format not in ("decimal", "american"):
        raise _Invalid(422, "INVALID_ODDS_FORMAT", f"Invalid oddsFormat: {odds_format}")
    bookmakers = _split(query.get("bookmakers", ""))
    books: tuple[str, ...] | None
    if bookmakers:
        # Every 10 bookmakers count as one region.
        regions, books = math.ceil(len(bookmakers) / 10), tuple(bookmakers)
    else:
        wanted = _regions(query)
        # Only the us region has books here; the others answer with none.
        regions, books = len(wanted), (None if "us" in wanted else ())
    render = {
        "markets": tuple(markets),
        "bookmakers": books,
        "odds_format": odds_format,
        "date_format": _date_format(query),
    }
    return _OddsOptions(render, regions)


def _markets(query: Mapping[str, str]) -> list[str]:
    markets = _split(query.get("markets", "")) or ["h2h"]
    invalid = [m for m in markets if m not in VALID_MARKETS]
    if invalid:
        raise _Invalid(422, "INVALID_MARKET", f"Invalid markets: {', '.join(invalid)}")
    return markets


def _regions(query: Mapping[str, str]) -> list[str]:
    regions = _split(query.get("regions", ""))
    if not regions and not query.get("bookmakers"):
        raise _Invalid(422, "MISSING_REGION")
    invalid = [r for r in regions if r not in REGIONS]
    if invalid:
        raise _Invalid(422, "INVALID_REGION", f"Invalid regions: {', '.join(invalid)}")
    return regions


def _date_format(query: Mapping[str, str]) -> str:
    date_format = query.get("dateFormat", "iso")
    if date_format not in ("iso", "unix"):
        raise _Invalid(422, "INVALID_DATE_FORMAT", f"Invalid dateFormat: {date_format}")
    return date_format


def _snapshot(query: Mapping[str, str], now: datetime) -> datetime:
    if not query.get("date"):
        raise _Invalid(422, "MISSING_HISTORICAL_TIMESTAMP", "Missing date parameter")
    requested = _parse_time(query["date"], "INVALID_HISTORICAL_TIMESTAMP")
    return snapshot_at(min(requested, now))  # the archive ends at the present


def _filtered(games: list[Game], query: Mapping[str, str]) -> list[Game]:
    """Apply the list endpoints' commenceTimeFrom/To and eventIds filters."""
    start = _optional_time(query, "commenceTimeFrom", "INVALID_COMMENCE_TIME_FROM")
    end = _optional_time(query, "commenceTimeTo", "INVALID_COMMENCE_TIME_TO")
    if start and end and end <= start:
        raise _Invalid(
            422, "INVALID_COMMENCE_TIME_RANGE", "commenceTimeTo must be later than commenceTimeFrom"
        )
    ids = _split(query.get("eventIds", ""))
    return [
        g
        for g in games
        if (start is None or g.commence_time >= start)
        and (end is None or g.commence_time <= end)
        and (not ids or g.event_id in ids)
    ]


def _optional_time(query: Mapping[str, str], name: str, code: str) -> datetime | None:
    return _parse_time(query[name], code) if query.get(name) else None


def _parse_time(text: str, code: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+"))  # a '+' decoded as a space
    except ValueError:
        raise _Invalid(422, code, f"Invalid timestamp: {text}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _split(value: str) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def _rotated(game: Game, books: tuple[Book, ...]) -> tuple[Book, ...]:
    # The real API's bookmaker order varies by event; rotate it per game, deterministically.
    if not books:
        return books
    start = int(datagen.hex_id("book-order", game.event_id)[:4], 16) % len(books)
    return books[start:] + books[:start]


def _same(price: int) -> int:
    return price


def _time(moment: datetime, date_format: str) -> str | int:
    return int(moment.timestamp()) if date_format == "unix" else _iso(moment)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
