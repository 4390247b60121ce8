"""BettingPros v3 as the stand-in serves it: events, paged offers, outages and 403s.

Follows docs/reference providers.md §2. Renderers are pure; `route` adds the `x-api-key`
check, the date's block and the pagination. Every offers answer carries the wire traps a
parser must survive (§2.7), at fixed seats in each slate's first game and at random elsewhere:
a pulled line (`is_off`), an inactive line, a book with an alternate line (`main: false`),
and an under selection missing a book the over has.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from lineflow.core.odds import american_to_decimal_scalar
from tests.support.standin import datagen
from tests.support.standin.datagen import Book, Game, Player

SPORT = "NBA"
#: BettingPros market ids and their canonical market.
MARKET_IDS: dict[int, str] = {156: "points", 157: "rebounds", 151: "assists", 162: "threes"}
_MARKET_LABELS = {
    "points": "Points",
    "rebounds": "Rebounds",
    "assists": "Assists",
    "threes": "Threes Made",
}
#: The API never returns more than this many offers per page, whatever `limit` asks.
MAX_LIMIT = 10
CONSENSUS_ID = 0
_SECRET_PARAMS = frozenset(("key", "user", "auth", "api_key", "apikey", "x-api-key"))
_LINKS = {
    "draftkings": "https://sportsbook.draftkings.com/event/",
    "fanduel": "https://account.sportsbook.fanduel.com/sportsbook/addToBetslip?marketId=",
    "betmgm": "https://sports.betmgm.com/en/sports/events/",
    "williamhill_us": "https://sportsbook.caesars.com/us/bet/",
    "betrivers": "https://betrivers.com/?page=sportsbook#event/",
    "fanatics": "https://sportsbook.fanatics.com/event/",
    "bet365": "https://www.bet365.com/#/AC/B18/",
    "espnbet": "https://espnbet.com/sport/basketball/organization/us/competition/nba/event/",
}
# The four wire traps, by offer position in a slate's first game (one of each per market).
_SEATED_TRAPS = {0: "is_off", 1: "inactive", 2: "alternate", 3: "missing_under"}
_TRAP_RATE = {"is_off": 0.03, "inactive": 0.03, "alternate": 0.05, "missing_under": 0.04}
_FORBIDDEN = {"message": "Forbidden"}


# -- renderers ---------------------------------------------------------------------------------


def forbidden_json() -> dict[str, str]:
    """API Gateway's 403 body: what a blocked or keyless request gets."""
    return dict(_FORBIDDEN)


def events_json(day: date, now: datetime) -> dict[str, Any]:
    """`/v3/events?sport=NBA&date=day` as of `now` (the status follows the clock)."""
    games = datagen.slate(day).games
    return {
        "events": [_event(g, now) for g in games],
        "_parameters": {"sport": SPORT, "date": day.isoformat()},
    }


def _event(game: Game, now: datetime) -> dict[str, Any]:
    if now < game.commence_time:
        status = "scheduled"
    elif now < game.commence_time + timedelta(hours=3):
        status = "inprogress"
    else:
        status = "closed"
    return {
        "id": game.bp_event_id,
        "sr_id": _uuid(datagen.hex_id("sportradar", game.event_id)),
        "sport": SPORT,
        "scheduled": _clock(game.commence_time),
        "season": _season(game.slate_date),
        "season_type": "REG",
        "event_name": None,
        "status": status,
        "home": game.home.bp_abbr,
        "visitor": game.away.bp_abbr,
        "link": f"/nba/matchups/{game.away.slug}-vs-{game.home.slug}/",
        "series_summary": None,
        "popularity": 40 + int(60 * datagen.unit("popularity", game.event_id)),
        "participants": [
            _participant(game.home, game.slate_date),
            _participant(game.away, game.slate_date),
        ],
        "venue": {"name": f"{game.home.nickname} Arena", "city": game.home.city, "state": None},
        "broadcasts": [],
    }


def _participant(team: datagen.Team, day: date) -> dict[str, Any]:
    season = _season(day)
    played = min(82, max(0, (day - date(season, 10, 21)).days * 82 // 174))
    wins = round(played * (0.25 + 0.5 * datagen.unit("strength", team.code, season)))
    return {
        "id": team.bp_abbr,
        "name": team.nickname,
        "team": {
            "city": team.city,
            "abbreviation": team.bp_abbr,
            "record": {"W": wins, "L": played - wins, "T": 0},
            "slug": team.slug,
        },
    }


def offer_items(games: Sequence[Game], market_ids: Sequence[int]) -> list[tuple[Game, int, int]]:
    """Every (game, market id, player position) an offers query covers, in answer order."""
    return [
        (game, market_id, position)
        for game in games
        for market_id in market_ids
        if market_id in MARKET_IDS
        for position in range(len(_players(game, market_id)))
    ]


def offers_json(
    games: Sequence[Game],
    market_ids: Sequence[int],
    at: datetime,
    *,
    page: int = 1,
    limit: int = MAX_LIMIT,
    parameters: Mapping[str, Any] | None = None,
    self_path: str = "/v3/offers",
) -> dict[str, Any]:
    """One page of `/v3/offers`: one offer per player per market, as of `at`."""
    limit = max(1, min(limit, MAX_LIMIT))
    items = offer_items(games, market_ids)
    chunk = items[(page - 1) * limit : page * limit] if page >= 1 else []
    return _page(
        [offer_json(game, market_id, position, at) for game, market_id, position in chunk],
        page=page,
        limit=limit,
        total_items=len(items),
        parameters=parameters,
        self_path=self_path,
        market_ids=market_ids,
    )


def outage_error_page(total_items: int = 120, page: int = 1, limit: int = MAX_LIMIT) -> dict:
    """The HTTP 200 outage body with a string sentinel for offers (`"offers": ["error"]`)."""
    return _page(["error"], page=page, limit=limit, total_items=total_items)


def outage_empty_page(total_items: int = 120, page: int = 1, limit: int = MAX_LIMIT) -> dict:
    """The HTTP 200 outage body with no offers although `total_items` says there are some."""
    return _page([], page=page, limit=limit, total_items=total_items)


def _page(
    offers: list[Any],
    *,
    page: int,
    limit: int,
    total_items: int,
    parameters: Mapping[str, Any] | None = None,
    self_path: str = "/v3/offers",
    market_ids: Sequence[int] = (156,),
) -> dict[str, Any]:
    return {
        "offers": offers,
        "_pagination": {
            "page": page,
            "limit": limit,
            "total_pages": math.ceil(total_items / limit),
            "total_items": total_items,
            "self": self_path,
        },
        "_parameters": dict(parameters or {"sport": SPORT, "limit": limit, "page": page}),
        "markets": [_market(m) for m in market_ids if m in MARKET_IDS],
    }


def _market(market_id: int) -> dict[str, Any]:
    market = MARKET_IDS[market_id]
    label = _MARKET_LABELS[market]
    return {
        "id": market_id,
        "sport": SPORT,
        "slug": market if market != "threes" else "threes-made",
        "category": "player-props",
        "meta": {"label": f"Player {label}", "short_label": label},
    }


def offer_json(game: Game, market_id: int, position: int, at: datetime) -> dict[str, Any]:
    """The offer for the player at `position` on the game's board for `market_id`."""
    player = _players(game, market_id)[position]
    seat = _Seat(game, MARKET_IDS[market_id], player, at)
    books = datagen.bettingpros_books(game, player, seat.market)
    trap = _trap(game, seat.market, player, position)
    offer_id = datagen.hex_id("bp-offer", game.bp_event_id, market_id, player.player_id)
    return {
        "id": offer_id,
        "market_id": market_id,
        "event_id": game.bp_event_id,
        "player_id": player.player_id,
        "team_id": None,
        "opponent_id": None,
        "link": "",
        "active": True,
        "participants": [_player_json(player)],
        "selections": [_selection(seat, books, side, offer_id, trap) for side in ("over", "under")],
    }


@dataclass(frozen=True, slots=True)
class _Seat:
    """The player, market and moment one offer is rendered for."""

    game: Game
    market: str
    player: Player
    at: datetime


def _players(game: Game, market_id: int) -> tuple[Player, ...]:
    return datagen.market_players(game, MARKET_IDS[market_id], game.bp_players)


def _trap(game: Game, market: str, player: Player, position: int) -> str | None:
    if game.index == 0:
        return _SEATED_TRAPS.get(position)
    u = datagen.unit("bp-trap", game.event_id, market, player.name)
    for name, rate in _TRAP_RATE.items():
        if u < rate:
            return name
        u -= rate
    return None


def _player_json(player: Player) -> dict[str, Any]:
    return {
        "id": str(player.player_id),  # a string here, an int as offer.player_id
        "name": player.name,
        "link": f"/nba/props/{player.slug}/",
        "player": {
            "short_name": player.name,
            "first_name": player.first_name,
            "last_name": player.last_name,
            "position": player.position,
            "team": datagen.team(player.team).bp_abbr,
            "slug": player.slug,
            "jersey_number": player.jersey,
            "image": f"https://images.bettingpros.com/v3/headshots/nba/{player.slug}.png",
        },
    }


def _selection(
    seat: _Seat, books: tuple[Book, ...], side: str, offer_id: str, trap: str | None
) -> dict[str, Any]:
    selection_id = datagen.hex_id("bp-selection", offer_id, side)
    trap_book = books[-1]  # the offer's trap, if any, hits its last book
    real_books = []
    lines: list[dict[str, Any]] = []
    for book in books:
        if trap == "missing_under" and side == "under" and book == trap_book:
            continue
        book_trap = trap if book == trap_book else None
        book_lines = _book_lines(seat, book, side, selection_id, book_trap)
        real_books.append({"id": book.bp_id, "lines": book_lines})
        lines.extend(book_lines)
    _mark_best(lines)
    return {
        "id": selection_id,
        "participant": None,
        "selection": side,
        "label": side.capitalize(),
        "short_label": side.capitalize(),
        "active": True,
        "opening_line": _opening(seat, books[0], side),
        "books": [_consensus(lines), *real_books],
    }


def _book_lines(
    seat: _Seat, book: Book, side: str, selection_id: str, trap: str | None
) -> list[dict[str, Any]]:
    """One book's lines on one side: the main line, and an alternate a point higher."""
    # A book's lines are what it posted at its last update.
    posted = datagen.last_update(seat.game, book.key, seat.market, seat.at)
    main = datagen.book_line(seat.game, seat.player, seat.market, book.key, posted)
    shifts = (0, 1) if trap == "alternate" else (0,)
    return [
        _line(
            seat,
            book,
            side,
            f"{book.bp_id}_{selection_id}" + (f"_{s}" if s else ""),
            main + s,
            s,
            posted,
            trap,
        )
        for s in shifts
    ]


def _line(
    seat: _Seat,
    book: Book,
    side: str,
    line_id: str,
    line: float,
    shift: int,
    posted: datetime,
    trap: str | None,
) -> dict[str, Any]:
    over, under = datagen.book_prices(seat.game, seat.player, seat.market, book.key, posted, shift)
    cost = over if side == "over" else under
    p_over, p_under = _implied(over), _implied(under)
    fair = (p_over if side == "over" else p_under) / (p_over + p_under)
    return {
        "id": line_id,
        "from_scout": False,
        "main": shift == 0,
        "best": False,
        "updated": _clock(posted),
        "cost": cost,
        "line": line,
        "is_off": trap == "is_off" and shift == 0,
        "active": not (trap == "inactive" and shift == 0),
        "link": f"{_LINKS[book.key]}{seat.game.bp_event_id}",
        "metrics": {
            "projection": 0,
            "cover_probability": 0,
            "expected_value": None,
            "bet_rating": None,
            "result": None,
            "notes": None,
            "market_ev": round(fair / _implied(cost) - 1, 4),
            "fair_probability": round(fair, 4),
            "pm_win_pct": None,
        },
    }


def _mark_best(lines: list[dict[str, Any]]) -> None:
    # "best" = the highest price among the selection's live main lines.
    live = [x for x in lines if x["main"] and x["active"] and not x["is_off"]]
    if live:
        top = max(x["cost"] for x in live)
        for x in live:
            x["best"] = x["cost"] == top


def _consensus(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Book 0: the median main line and the average price there."""
    mains = [x for x in lines if x["main"]]
    line = sorted(x["line"] for x in mains)[(len(mains) - 1) // 2]
    at_line = [x["cost"] for x in mains if x["line"] == line]
    probability = sum(_implied(c) for c in at_line) / len(at_line)
    return {
        "id": CONSENSUS_ID,
        "lines": [
            {
                "id": None,
                "from_scout": False,
                "main": True,
                "best": False,
                "updated": max(x["updated"] for x in mains),
                "cost": datagen.american(probability),
                "line": line,
                "is_off": False,
                "active": True,
                "link": "https://www.bettingpros.com",
                "metrics": {
                    "projection": 0,
                    "cover_probability": 0,
                    "expected_value": None,
                    "bet_rating": None,
                    "result": None,
                    "notes": None,
                    "market_ev": None,
                    "fair_probability": None,
                    "pm_win_pct": round(100 * probability, 1),
                },
            }
        ],
    }


def _opening(seat: _Seat, book: Book, side: str) -> dict[str, Any]:
    opened = datagen.opening_time(seat.game)
    over, under = datagen.book_prices(seat.game, seat.player, seat.market, book.key, opened)
    delay = int(600 * datagen.unit("opened", seat.player.name, seat.market))
    return {
        "line": datagen.opening_line(seat.game, seat.player, seat.market),
        "cost": over if side == "over" else under,
        "book_id": book.bp_id,
        "created": _clock(opened + timedelta(seconds=delay)),
    }


# -- routes ------------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


def route(
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    now: datetime,
    api_key: str,
) -> tuple[int, Any, dict[str, str]]:
    """Answer one GET under /v3/ as (status, JSON-ready body, headers).

    `headers` has lower-case names. A request about a date whose scenario blocks
    BettingPros (or made while the clock is on such a date) gets the 403 a block gives.
    """
    if headers.get("x-api-key") != api_key:
        return 403, forbidden_json(), {}
    endpoint = path.rstrip("/")
    try:
        if endpoint == "/v3/events":
            return _events(query, now)
        if endpoint == "/v3/offers":
            return _offers(query, now)
    except _BadRequest as bad:
        return 400, {"message": str(bad)}, {}
    if endpoint == "/v3/books":
        books = [{"id": CONSENSUS_ID, "name": "BettingPros Consensus"}]
        books += [{"id": b.bp_id, "name": b.title} for b in datagen.BETTINGPROS_BOOKS]
        return 200, {"books": books}, {}
    if endpoint == "/v3/markets":
        return 200, {"markets": [_market(m) for m in MARKET_IDS]}, {}
    return 404, {"message": "Not Found"}, {}


def _events(query: Mapping[str, str], now: datetime) -> tuple[int, Any, dict[str, str]]:
    day = _date(query.get("date")) or datagen.slate_date_of(now)
    if _blocked((day,), now):
        return 403, forbidden_json(), {}
    if query.get("sport", SPORT).upper() != SPORT:
        return (
            200,
            {"events": [], "_parameters": {"sport": query["sport"], "date": day.isoformat()}},
            {},
        )
    return 200, events_json(day, now), {}


def _offers(query: Mapping[str, str], now: datetime) -> tuple[int, Any, dict[str, str]]:
    market_ids = _ids(query.get("market_id", "156"), "market_id")
    if query.get("event_id"):
        found = (datagen.find_bp_game(i) for i in _ids(query["event_id"], "event_id"))
        games = [g for g in found if g is not None]
    else:
        games = list(datagen.slate(datagen.slate_date_of(now)).games)
    if _blocked(tuple(g.slate_date for g in games), now):
        return 403, forbidden_json(), {}
    if query.get("sport", SPORT).upper() != SPORT:
        games = []
    limit = min(_int(query.get("limit", str(MAX_LIMIT)), "limit"), MAX_LIMIT)
    page = _int(query.get("page", "1"), "page")
    public = {k: v for k, v in query.items() if k.lower() not in _SECRET_PARAMS}
    parameters = {**public, "limit": limit, "page": page}
    self_path = "/v3/offers?" + urlencode({**public, "limit": limit, "page": page}, safe=":,")
    body = offers_json(
        games, market_ids, now, page=page, limit=limit, parameters=parameters, self_path=self_path
    )
    return 200, body, {}


def _blocked(days: tuple[date, ...], now: datetime) -> bool:
    about = (*days, datagen.slate_date_of(now))
    return any(datagen.scenario(day).bettingpros_blocked for day in about)


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"Invalid date: {text}") from None


def _ids(text: str, name: str) -> list[int]:
    if not re.fullmatch(r"\d+(:\d+)*", text):
        raise _BadRequest(f"Invalid {name}: {text}")
    return [int(part) for part in text.split(":")]


def _int(text: str, name: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise _BadRequest(f"Invalid {name}: {text}")
    return int(text)


def _implied(american_price: int) -> float:
    return 1 / american_to_decimal_scalar(american_price)


def _season(day: date) -> int:
    # BettingPros names a season by the year it starts (2025-26 -> 2025).
    return day.year if day.month >= 8 else day.year - 1


def _clock(moment: datetime) -> str:
    """BettingPros' timestamps: UTC, no 'T', no zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
