"""DraftKings' sportsbook JSON ("nash" API) as the stand-in serves it, traps included.

Follows docs/reference draftkings.md. One answer per (league, subcategory) holds every game on
the board at the stand-in's clock, as flat arrays joined by id: `events`, `markets`,
`selections`. The traps a parser must survive, each present in every answer where the clock
allows:

- American odds with U+2212 MINUS SIGN ("−115"); the rebounds and threes answers escape it in
  the file ("\\u2212115"), the others send it raw;
- timestamps with seven fractional digits ("2026-01-24T00:30:00.0000000Z");
- suspended markets (`isSuspended: true`) that still carry prices: in a game with more than
  ten players on the board, the last one's (so that every game keeps ten players with lines);
- milestone markets ("20+", `milestoneValue`) of the stat's milestone subcategory mixed in, with
  an Over selection at N - 0.5;
- games that have started (`status: STARTED`, tip-off within the last four hours) and the next
  slate's games in the same answer;
- an alternate line beside the main one for some players (the main one tagged MainPointLine);
- DraftKings' own names: teams as "<ABBR> <Nickname>" ("LA Clippers", "GS Warriors"), some
  players by a longer first name than the other providers use ("Reginald" for "Reggie"), and
  lineup suffixes (" (Q)") on a few;
- an Akamai 403 HTML page for a request without a browser's headers.

What DraftKings posts for a game is what The Odds API says its `draftkings` book posts
(`datagen.odds_api_board`), so the three sources tell one consistent story, with one
difference: the incident's stale player, whom only two stale books quote there, has a fresh
DraftKings line here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tests.support.standin import datagen
from tests.support.standin.datagen import Game, Player, Team

LEAGUE = "42648"
#: O/U subcategory -> canonical market, and the stat's milestone ("20+") subcategory.
SUBCATEGORIES: dict[str, str] = {
    "12488": "points",
    "12492": "rebounds",
    "12495": "assists",
    "12497": "threes",
}
MILESTONES: dict[str, str] = {
    "12488": "16477",
    "12492": "16479",
    "12495": "16478",
    "12497": "16480",
}
#: Answers whose file escapes the minus sign (`\u2212`); the others send it raw.
_ESCAPED = ("12492", "12497")
_LABELS = {"points": "Points", "rebounds": "Rebounds", "assists": "Assists", "threes": "Threes"}
PATH_SUFFIX = "/api/sportscontent/controldata/league/leagueSubcategory/v1/markets"
MINUS = "\u2212"
#: Headers a browser sends and a bare client does not (Akamai's test, roughly).
BROWSER_HEADERS = {
    "origin": "https://sportsbook.draftkings.com",
    "referer": "https://sportsbook.draftkings.com/",
    "sec-fetch-mode": "cors",
}
#: First names DraftKings spells out where the other providers use the short form. The first
#: four are the real-world examples; the last two occur in the stand-in's invented league.
FIRST_NAMES = {
    "Nic": "Nicolas",
    "Herb": "Herbert",
    "Cam": "Cameron",
    "Moe": "Moritz",
    "Reggie": "Reginald",
    "Zeke": "Ezekiel",
}
#: Share of (player, slate) pairs listed with a lineup suffix.
QUESTIONABLE_RATE = 0.04
#: Players with points lines a game keeps whatever is suspended (the rule ten_players_per_game).
KEPT_PLAYERS = 10
ALTERNATE_RATE = 0.15
#: How long a started game stays on the board.
IN_PLAY = timedelta(hours=4)
AKAMAI_PAGE = (
    "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n \n"
    "You don't have permission to access \"http&#58;&#47;&#47;sportsbook&#45;nash&#46;"
    'draftkings&#46;com&#47;sites&#47;" on this server.<P>\n'
    "Reference&#32;&#35;18&#46;6f3d2f17&#46;1769177280&#46;3a1c2b\n</BODY>\n</HTML>\n"
)


def team_name(team: Team) -> str:
    """DraftKings' team name: "<ABBR> <Nickname>" ("LA Lakers", "GS Warriors", "NO Pelicans")."""
    abbr = "LA" if team.code in ("LAC", "LAL") else team.bp_abbr
    return f"{abbr} {team.nickname}"


def player_name(player: Player, game: Game) -> str:
    """The player as DraftKings lists him for `game`'s slate: a longer first name where it
    has one, and " (Q)" on a few (questionable for that slate)."""
    first = FIRST_NAMES.get(player.first_name, player.first_name)
    name = f"{first} {player.last_name}"
    if datagen.unit("dk-questionable", player.name, game.slate_date) < QUESTIONABLE_RATE:
        name += " (Q)"
    return name


def board(now: datetime) -> list[tuple[Game, str]]:
    """Games on the board at `now`, with their status: started in the last four hours, and
    every game of the current slate and the next one."""
    games = datagen.games_around(now, before=1, after=1)
    on = []
    for game in games:
        if game.commence_time <= now - IN_PLAY:
            continue
        on.append((game, "STARTED" if game.commence_time <= now else "NOT_STARTED"))
    return sorted(on, key=lambda pair: (pair[0].commence_time, pair[0].event_id))


def markets_json(subcategory: str, now: datetime) -> dict[str, Any]:
    """The league-subcategory answer for one O/U subcategory at `now`."""
    market = SUBCATEGORIES[subcategory]
    events, markets, selections = [], [], []
    book = next(b for b in datagen.BOOKS if b.key == "draftkings")
    for game, status in board(now):
        boards = datagen.odds_api_board(game, now, markets=(market,), books=(book,))
        quotes = list(boards[0].quotes) if boards else []
        quotes += _fresh_for_stale(game, market, now)
        if not quotes:
            continue
        events.append(_event(game, status, subcategory))
        for quote in quotes:
            markets_, selections_ = _player_market(game, subcategory, market, quote, now)
            markets += markets_
            selections += selections_
    return {
        "sports": [{"id": "2", "name": "Basketball", "sortOrder": 3}],
        "leagues": [{"id": LEAGUE, "name": "NBA", "sportId": "2", "isTeamSport": True}],
        "events": events,
        "markets": markets,
        "selections": selections,
        "subscriptionPartials": {"markets": f"league/{LEAGUE}/subcategory/{subcategory}"},
    }


def _fresh_for_stale(game: Game, market: str, now: datetime) -> list[datagen.Quote]:
    """The player whose line only two stale books carry on The Odds API: DraftKings itself
    posts a fresh one (an aggregator's feed of a book can lag the book)."""
    quotes = []
    for player in datagen.market_players(game, market, game.prop_players):
        if game.trap(player) == datagen.STALE:
            line = datagen.book_line(game, player, market, "draftkings", now)
            over, under = datagen.book_prices(game, player, market, "draftkings", now)
            quotes.append(datagen.Quote(player, line, over, under))
    return quotes


def body(subcategory: str, now: datetime) -> bytes:
    """The answer's bytes, the minus sign raw or escaped as DraftKings' files have it."""
    payload = markets_json(subcategory, now)
    escaped = subcategory in _ESCAPED
    return json.dumps(payload, ensure_ascii=escaped, separators=(",", ":")).encode()


def _event(game: Game, status: str, subcategory: str) -> dict[str, Any]:
    return {
        "id": event_id(game),
        "seoIdentifier": f"{team_name(game.away)}-@-{team_name(game.home)}".lower(),
        "sportId": "2",
        "leagueId": LEAGUE,
        "name": f"{team_name(game.away)} @ {team_name(game.home)}",
        "startEventDate": seven_digits(game.commence_time),
        "participants": [
            _team(game.home, "Home"),
            _team(game.away, "Away"),
        ],
        "status": status,
        "tags": ["SGP", "FeaturedSubcategory"],
        "clientMetadata": {"Subcategories": [{"Id": subcategory}]},
    }


def _team(team: Team, role: str) -> dict[str, Any]:
    return {
        "id": str(200000 + datagen.TEAMS.index(team)),
        "name": team_name(team),
        "venueRole": role,
        "type": "Team",
    }


def _player_market(
    game: Game, subcategory: str, market: str, quote: datagen.Quote, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One player's O/U market (suspended on a few, an alternate line on some) and, for the
    board's regulars, his milestone market."""
    player = quote.player
    name = player_name(player, game)
    mid = _id("market", game.event_id, subcategory, player.name)
    role = "HomePlayer" if player.team == game.home.code else "AwayPlayer"
    ou = {
        "id": mid,
        "eventId": event_id(game),
        "name": f"{name} {_LABELS[market]} O/U",
        "subcategoryId": subcategory,
        "marketType": {"id": "12344", "betOfferTypeId": 6, "name": f"Player {_LABELS[market]}"},
        "tags": ["PlayerProps", "SGP"],
    }
    if len(game.prop_players) > KEPT_PLAYERS and player == game.prop_players[-1]:
        ou["isSuspended"] = True
    selections = [
        _selection(mid, player, name, role, side, quote.line, price, main=True)
        for side, price in (("Over", quote.over), ("Under", quote.under))
    ]
    if (
        game.trap(player) is None
        and datagen.unit("dk-alternate", game.event_id, subcategory, player.name) < ALTERNATE_RATE
    ):
        over, under = datagen.book_prices(game, player, market, "draftkings", now, shift=1)
        selections += [
            _selection(mid, player, name, role, side, quote.line + 1, price, main=False)
            for side, price in (("Over", over), ("Under", under))
        ]
    markets = [ou]
    milestone = int(quote.line + 0.5) + (5 if market == "points" else 2)
    if game.trap(player) is None and milestone > 1:
        sub = MILESTONES[subcategory]
        ms_id = _id("milestone", game.event_id, sub, player.name)
        markets.append(
            {
                "id": ms_id,
                "eventId": event_id(game),
                "name": f"{name} {_LABELS[market]} Milestones",
                "subcategoryId": sub,
                "marketType": {"id": "12345", "betOfferTypeId": 1, "name": "Milestones"},
                "tags": ["PlayerProps"],
            }
        )
        over, _ = datagen.book_prices(game, player, market, "draftkings", now, shift=5)
        selection = _selection(ms_id, player, name, role, "Over", milestone - 0.5, over, False)
        selection.update(label=f"{milestone}+", milestoneValue=milestone)
        selections.append(selection)
    return markets, selections


def _selection(
    market_id: str,
    player: Player,
    name: str,
    role: str,
    side: str,
    line: float,
    price: int,
    main: bool,
) -> dict[str, Any]:
    decimal = datagen.decimal_price(price)
    selection: dict[str, Any] = {
        "id": f"0QA{market_id}#{player.player_id}_{side[0]}{int(line * 10)}",
        "marketId": market_id,
        "label": side,
        "outcomeType": side,
        "points": line,
        "displayOdds": {
            "american": american_text(price),
            "decimal": f"{decimal:.2f}",
            "fractional": _fraction(decimal),
        },
        "trueOdds": round(datagen.american_to_decimal_scalar(price), 8),
        "participants": [
            {"id": str(player.player_id), "name": name, "type": "Player", "venueRole": role}
        ],
        "tags": ["MainPointLine"] if main else [],
    }
    if main:
        selection["main"] = True
    return selection


def american_text(price: int) -> str:
    """ "−115" with U+2212 MINUS SIGN, "+105", "+100"."""
    return f"{MINUS}{-price}" if price < 0 else f"+{price}"


def seven_digits(moment: datetime) -> str:
    """DraftKings' UTC timestamps: seven fractional digits and a Z."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def event_id(game: Game) -> str:
    return str(30000000 + int(game.event_id[:8], 16) % 9000000)


def _id(*parts: object) -> str:
    return str(int(datagen.hex_id(*parts)[:12], 16) % 10**10)


def _fraction(decimal: float) -> str:
    from fractions import Fraction

    value = Fraction(decimal - 1).limit_denominator(100)
    return f"{value.numerator}/{value.denominator}"


# -- routing -----------------------------------------------------------------------------------


def route(
    path: str, query: Mapping[str, str], headers: Mapping[str, str], now: datetime
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body bytes, extra headers) for a `/sites/{SITE}/...` request."""
    if not is_browser(headers):
        return 403, AKAMAI_PAGE.encode(), {"Content-Type": "text/html"}
    if not path.endswith(PATH_SUFFIX):
        return 404, b'{"message":"Not Found"}', {}
    league, _, subcategory = query.get("templateVars", "").partition(",")
    if league != LEAGUE or subcategory not in SUBCATEGORIES:
        # DraftKings answers an unknown board with empty arrays, not an error.
        empty = {"events": [], "markets": [], "selections": [], "subscriptionPartials": {}}
        return 200, json.dumps(empty).encode(), {}
    return 200, body(subcategory, now), {"Cache-Control": "max-age=1"}


def is_browser(headers: Mapping[str, str]) -> bool:
    """Whether a request carries the headers a browser sends (lower-case names)."""
    if "mozilla" not in headers.get("user-agent", "").lower():
        return False
    return all(headers.get(name) == value for name, value in BROWSER_HEADERS.items())
