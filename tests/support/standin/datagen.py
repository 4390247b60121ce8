"""Deterministic NBA player-prop slates: the data both stand-in providers serve.

Everything here is a pure function of (date, time): the same inputs give the same teams,
rosters, games, lines and prices in every process, so recorded fixtures and benchmarks are
reproducible. Randomness comes from hashing the inputs (`unit`), never from global state.

Time model: a slate date D is a US/Eastern game date; its games tip off between 00:00 and
03:00 UTC of D+1. Lines open at 10:00 UTC of D and drift in 30-minute buckets toward their
closing value; prices jitter per bucket.
"""

from __future__ import annotations

import hashlib
import math
import random
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from lineflow.core.names import player_key
from lineflow.core.odds import american_to_decimal_scalar

# -- the league ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Team:
    """An NBA team: `code` is the 3-letter code, `bp_abbr` BettingPros' abbreviation."""

    code: str
    city: str
    nickname: str
    bp_abbr: str

    @property
    def name(self) -> str:
        return f"{self.city} {self.nickname}"

    @property
    def slug(self) -> str:
        return _slug(self.name)


TEAMS: tuple[Team, ...] = (
    Team("ATL", "Atlanta", "Hawks", "ATL"),
    Team("BOS", "Boston", "Celtics", "BOS"),
    Team("BKN", "Brooklyn", "Nets", "BKN"),
    Team("CHA", "Charlotte", "Hornets", "CHA"),
    Team("CHI", "Chicago", "Bulls", "CHI"),
    Team("CLE", "Cleveland", "Cavaliers", "CLE"),
    Team("DAL", "Dallas", "Mavericks", "DAL"),
    Team("DEN", "Denver", "Nuggets", "DEN"),
    Team("DET", "Detroit", "Pistons", "DET"),
    Team("GSW", "Golden State", "Warriors", "GS"),
    Team("HOU", "Houston", "Rockets", "HOU"),
    Team("IND", "Indiana", "Pacers", "IND"),
    Team("LAC", "Los Angeles", "Clippers", "LAC"),
    Team("LAL", "Los Angeles", "Lakers", "LAL"),
    Team("MEM", "Memphis", "Grizzlies", "MEM"),
    Team("MIA", "Miami", "Heat", "MIA"),
    Team("MIL", "Milwaukee", "Bucks", "MIL"),
    Team("MIN", "Minnesota", "Timberwolves", "MIN"),
    Team("NOP", "New Orleans", "Pelicans", "NO"),
    Team("NYK", "New York", "Knicks", "NY"),
    Team("OKC", "Oklahoma City", "Thunder", "OKC"),
    Team("ORL", "Orlando", "Magic", "ORL"),
    Team("PHI", "Philadelphia", "76ers", "PHI"),
    Team("PHX", "Phoenix", "Suns", "PHO"),
    Team("POR", "Portland", "Trail Blazers", "POR"),
    Team("SAC", "Sacramento", "Kings", "SAC"),
    Team("SAS", "San Antonio", "Spurs", "SA"),
    Team("TOR", "Toronto", "Raptors", "TOR"),
    Team("UTA", "Utah", "Jazz", "UTA"),
    Team("WAS", "Washington", "Wizards", "WAS"),
)


@dataclass(frozen=True, slots=True)
class Player:
    """An invented player with per-game averages that anchor his lines."""

    name: str
    first_name: str
    last_name: str
    team: str  # Team.code
    position: str
    jersey: int
    player_id: int  # BettingPros player id
    points: float
    rebounds: float
    assists: float
    threes: float

    @property
    def slug(self) -> str:
        return _slug(self.name)

    def average(self, market: str) -> float:
        return float(getattr(self, market))


# Invented names. Common surnames are left out so that no combination is a real NBA player.
# fmt: off
_FIRST_NAMES = (
    "Marcus", "Darius", "Trevon", "Malik", "Isaiah", "Caleb", "Dorian", "Keon", "Tariq",
    "Elijah", "Xavier", "Quentin", "Rasheed", "Landon", "Bryce", "Cormac", "Emeka", "Tobias",
    "Nikolai", "Anders", "Mateo", "Rafael", "Idris", "Omari", "Desmond", "Terrance", "Cedric",
    "Garrett", "Hollis", "Kendrick", "Lamont", "Marquise", "Nasir", "Percy", "Reggie", "Silas",
    "Thaddeus", "Vaughn", "Yusuf", "Zeke", "Jonah", "Amari", "Colby", "Dante", "Everett",
    "Fletcher", "Grady", "Harlan", "Ike", "Jasper", "Kofi", "Luca", "Moses", "Nolan", "Otis",
    "De'Andre", "Ja'Vonte", "D'Marcus", "Tre'Shawn", "Le'Quan", "Théo", "Andrés", "Jonás",
)
_LAST_NAMES = (
    "Ashcroft", "Bellweather", "Castellano", "Draxler", "Ellingsworth", "Fairbanks", "Galloway",
    "Hargrove", "Ibekwe", "Jankowski", "Kingsley", "Lindqvist", "Marchetti", "Nwachukwu",
    "Okonjo", "Pemberton", "Quintero", "Radcliffe", "Sandoval", "Thibodeaux", "Underhill",
    "Whitlock", "Yarbrough", "Zielinski", "Abernathy", "Blackwood", "Cromartie", "Delacroix",
    "Eberhardt", "Ferreira", "Grimsley", "Holloway", "Jeffcoat", "Kowalczyk", "Lockhart",
    "McAllister", "Northcutt", "Oyelaran", "Prescott", "Rutherford", "Stonebridge", "Treadwell",
    "Wainwright", "Ashby", "Bramlett", "Coleridge", "Everhart", "Fontaine", "Gadsden",
    "Halvorsen", "Jovanović", "Kerrigan", "Lattimore", "Merriweather", "Nakamura", "O'Rourke",
    "D'Alessio", "Pettersen", "Quarles", "Renfrow", "Sutherland", "Tremblay", "Upshaw",
    "Yeboah", "Zamora", "Achterberg", "Brightwater", "Calloway", "Dunmore", "Eastwood",
    "Faulkner", "Greenleaf", "Hightower", "Kilgore", "Pennington", "Ridley", "Youngblood",
    "Vukčević", "Okafor-Reyes", "Whitfield",
)
_SUFFIXES = ("Jr.", "II", "III", "Sr.")
_POSITIONS = ("PG", "SG", "SF", "PF", "C")
# Points per game by rotation rank, lowest and highest (ranks 0-11 of a 12-man roster).
_POINTS_TIERS = (
    (20, 31), (15, 23), (11, 18), (8, 14), (6.5, 12), (7, 13),
    (6, 11), (5, 9), (3, 7), (2, 6), (1.5, 5), (1, 4),
)
# fmt: on
# Starter-level averages per position; scaled by the player's role.
_REBOUNDS = {"PG": (3.5, 5.5), "SG": (3.5, 5.5), "SF": (4.5, 7), "PF": (6, 9), "C": (8, 12.5)}
_ASSISTS = {"PG": (5.5, 9.5), "SG": (3, 5.5), "SF": (2, 4), "PF": (1.5, 3.5), "C": (1.5, 3.5)}
_THREES = {"PG": (1.8, 3.4), "SG": (2, 3.6), "SF": (1.3, 2.6), "PF": (0.8, 1.9), "C": (0.1, 1)}


@lru_cache(maxsize=1)
def rosters() -> tuple[tuple[Player, ...], ...]:
    """Twelve players per team, in `TEAMS` order, best scorer first; the same on every date."""
    taken_keys: set[str] = set()
    taken_ids: set[int] = set()
    league = []
    for team in TEAMS:
        rng = random.Random(f"roster|{team.code}")
        points = sorted((rng.uniform(lo, hi) for lo, hi in _POINTS_TIERS), reverse=True)
        starters, bench = list(_POSITIONS), [*_POSITIONS, "SG", "PF"]
        rng.shuffle(starters)
        rng.shuffle(bench)
        jerseys = rng.sample(range(56), 12)
        roster = []
        for rank, (pts, pos) in enumerate(zip(points, starters + bench, strict=True)):
            first, last = _unique_name(rng, taken_keys)
            pid = rng.randint(10000, 99999)
            while pid in taken_ids:
                pid = rng.randint(10000, 99999)
            taken_ids.add(pid)
            role = min(1.25, max(0.35, pts / 18))
            roster.append(
                Player(
                    name=f"{first} {last}",
                    first_name=first,
                    last_name=last,
                    team=team.code,
                    position=pos,
                    jersey=jerseys[rank],
                    player_id=pid,
                    points=round(pts, 1),
                    rebounds=round(rng.uniform(*_REBOUNDS[pos]) * role, 1),
                    assists=round(rng.uniform(*_ASSISTS[pos]) * role, 1),
                    threes=round(rng.uniform(*_THREES[pos]) * role, 1),
                )
            )
        league.append(tuple(roster))
    return tuple(league)


def _unique_name(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    # Unique by the pipeline's own player key, so "X Jr." and "X" never share a key.
    while True:
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        if rng.random() < 0.07:
            last = f"{last} {rng.choice(_SUFFIXES)}"
        key = player_key(f"{first} {last}")
        if key not in taken:
            taken.add(key)
            return first, last


def team(code: str) -> Team:
    return TEAMS[_TEAM_INDEX[code]]


def roster(code: str) -> tuple[Player, ...]:
    return rosters()[_TEAM_INDEX[code]]


_TEAM_INDEX = {t.code: i for i, t in enumerate(TEAMS)}


# -- books and markets -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Book:
    """A sportsbook: `key` is the Odds API key (canonical), `bp_id` its BettingPros id."""

    key: str
    title: str
    odds_api: bool
    bp_id: int | None


BOOKS: tuple[Book, ...] = (
    Book("draftkings", "DraftKings", True, 12),
    Book("fanduel", "FanDuel", True, 10),
    Book("betmgm", "BetMGM", True, 19),
    Book("williamhill_us", "Caesars", True, 13),
    Book("betrivers", "BetRivers", True, 18),
    Book("bovada", "Bovada", True, None),
    Book("betonlineag", "BetOnline.ag", True, None),
    Book("fanatics", "Fanatics", False, 14),
    Book("bet365", "bet365", False, 24),
    Book("espnbet", "ESPN BET", False, 33),
)
ODDS_API_BOOKS = tuple(b for b in BOOKS if b.odds_api)
BETTINGPROS_BOOKS = tuple(b for b in BOOKS if b.bp_id is not None)

#: Canonical market names, in the order providers list them.
MARKETS = ("points", "rebounds", "assists", "threes")

_LINE_RANGE = {
    "points": (5.5, 50.5),
    "rebounds": (1.5, 20.5),
    "assists": (1.5, 15.5),
    "threes": (0.5, 7.5),
}
# A player gets a market only when his average makes it worth offering.
_MARKET_MIN_AVERAGE = {"points": 0.0, "rebounds": 2.5, "assists": 1.5, "threes": 0.8}
# Largest open-to-close move, in whole points.
_MAX_MOVE = {"points": 4, "rebounds": 2, "assists": 2, "threes": 1}
# The book's margin: implied probabilities of a main pair sum to 1 + vig.
_VIG = {
    "draftkings": 0.047,
    "fanduel": 0.045,
    "betmgm": 0.052,
    "williamhill_us": 0.05,
    "betrivers": 0.055,
    "bovada": 0.06,
    "betonlineag": 0.04,
    "fanatics": 0.05,
    "bet365": 0.048,
    "espnbet": 0.05,
}
# How likely each book is to carry a given player (DraftKings carries everyone's points).
_ODDS_API_RATE = {
    "draftkings": 1.0,
    "fanduel": 0.93,
    "betmgm": 0.85,
    "williamhill_us": 0.8,
    "betrivers": 0.75,
    "bovada": 0.6,
    "betonlineag": 0.7,
}
_BETTINGPROS_RATE = {
    "fanduel": 0.55,
    "draftkings": 0.55,
    "williamhill_us": 0.35,
    "betrivers": 0.3,
    "betmgm": 0.35,
    "fanatics": 0.2,
    "bet365": 0.2,
    "espnbet": 0.2,
}
_MARKET_RATE = {"points": 1.0, "rebounds": 0.85, "assists": 0.8, "threes": 0.7}
# Bovada never posts threes (a market missing for some books is a trap parsers must survive).
_MISSING_MARKETS = {"bovada": ("threes",)}
#: The book whose main player_points market carries a ladder of alternate lines per player.
LADDER_BOOK = "betrivers"


# -- scenarios and slates --------------------------------------------------------------------

#: Reasons a player fails the line-quality gate in the incident scenario.
STALE = "stale"
SINGLE_BOOK = "single_book"
OUT_OF_RANGE = "out_of_range"
INCONSISTENT_PRICES = "inconsistent_prices"
#: Books whose player_points market stops updating in the stale player's game.
STALE_BOOKS = ("bovada", "betonlineag")


@dataclass(frozen=True, slots=True)
class Scenario:
    """What a date's providers do. The defaults are a normal day with everything present."""

    name: str = "normal"
    game_count: int | None = None  # None: 7-9, from the date
    odds_api_live_props: bool = True  # False: every live event-odds answer has no bookmakers
    bettingpros_blocked: bool = False  # True: every /v3 request about the date gets 403
    historical_empty_games: tuple[int, ...] = ()  # game indexes with "bookmakers": [] historically
    prop_players_per_game: tuple[int, ...] | None = None  # None: 10-14 per game, from the date
    line_quality_traps: bool = False  # plant the four players who fail the line-quality gate


INCIDENT_DATE = date(2026, 1, 23)
# Jan 19-22: the live scraper found no props; they were backfilled from the historical API.
_BACKFILL = Scenario(name="backfill", odds_api_live_props=False)
SCENARIOS: dict[date, Scenario] = {
    date(2026, 1, 19): replace(_BACKFILL, game_count=9),
    date(2026, 1, 20): replace(_BACKFILL, game_count=7),
    date(2026, 1, 21): replace(_BACKFILL, game_count=7),
    date(2026, 1, 22): replace(_BACKFILL, game_count=8, historical_empty_games=(3,)),
    INCIDENT_DATE: Scenario(
        name="incident",
        game_count=8,
        bettingpros_blocked=True,
        prop_players_per_game=(10, 10, 10, 10, 11, 10, 10, 10),
        line_quality_traps=True,
    ),
}
# Where the incident's bad players sit: (game index, position in the game's prop players).
# Negative positions count from the end (the lowest scorer on the board).
_TRAP_SEATS = (
    (0, -1, OUT_OF_RANGE),
    (2, 3, SINGLE_BOOK),
    (5, 7, STALE),
    (6, 1, INCONSISTENT_PRICES),
)


def scenario(day: date) -> Scenario:
    """The scenario of a slate date: the built-in incident week, else normal."""
    return SCENARIOS.get(day, Scenario())


@dataclass(frozen=True, slots=True)
class Game:
    """One game of a slate, with the players each provider posts props for."""

    slate_date: date
    index: int  # position in the slate, by tip-off
    event_id: str  # The Odds API: 32 hex characters
    bp_event_id: int  # BettingPros
    commence_time: datetime
    home: Team
    away: Team
    prop_players: tuple[Player, ...]  # The Odds API board (player_points), home side first
    bp_players: tuple[Player, ...]  # BettingPros board, a top-scorer subset
    traps: tuple[tuple[str, str], ...] = ()  # (player name, line-quality failure reason)

    def trap(self, player: Player) -> str | None:
        return next((reason for name, reason in self.traps if name == player.name), None)


@dataclass(frozen=True, slots=True)
class Slate:
    date: date
    scenario: Scenario
    games: tuple[Game, ...]


# BettingPros event ids encode the date and the game's index, so an id alone finds its game
# (five digits for dates from 2015-10-01 to about 2040).
_BP_EPOCH = date(2015, 10, 1)
_BP_BASE = 10000
# Tip-off slots (minutes after 00:00 UTC of D+1) and how often each is used.
_TIPS = (0, 0, 0, 30, 30, 30, 60, 60, 90, 120, 150, 180)


@lru_cache(maxsize=1024)
def slate(day: date) -> Slate:
    """The games of slate date `day`, sorted by tip-off."""
    plan = scenario(day)
    rng = random.Random(f"slate|{day.isoformat()}")
    count = plan.game_count or rng.choice((7, 8, 8, 9))
    picks = rng.sample(range(len(TEAMS)), 2 * count)
    tip_day = datetime.combine(day + timedelta(days=1), time(0, 0), UTC)
    tips = sorted(tip_day + timedelta(minutes=rng.choice(_TIPS)) for _ in range(count))
    bp_players_per_game = max(6, round(60 / count))
    games = []
    for i in range(count):
        home, away = TEAMS[picks[2 * i]], TEAMS[picks[2 * i + 1]]
        n_props = (
            plan.prop_players_per_game[i] if plan.prop_players_per_game else rng.randint(10, 14)
        )
        n_bp = bp_players_per_game + rng.choice((-1, 0, 0, 1))
        games.append(
            Game(
                slate_date=day,
                index=i,
                event_id=hex_id("oddsapi-event", day, away.code, home.code),
                bp_event_id=_BP_BASE + (day - _BP_EPOCH).days * 10 + i,
                commence_time=tips[i],
                home=home,
                away=away,
                prop_players=_top_players(home, away, n_props),
                bp_players=_top_players(home, away, n_bp),
            )
        )
    if plan.line_quality_traps:
        games = [_with_traps(g) for g in games]
    return Slate(day, plan, tuple(games))


def _top_players(home: Team, away: Team, count: int) -> tuple[Player, ...]:
    # Rosters are sorted by scoring, so the board is each side's top scorers.
    return roster(home.code)[: (count + 1) // 2] + roster(away.code)[: count // 2]


def _with_traps(game: Game) -> Game:
    traps = tuple(
        (game.prop_players[seat].name, reason)
        for index, seat, reason in _TRAP_SEATS
        if index == game.index
    )
    return replace(game, traps=traps)


def incident_bad_players() -> dict[str, str]:
    """Ground truth of 2026-01-23: player name -> why his points line fails the quality gate."""
    return {name: reason for g in slate(INCIDENT_DATE).games for name, reason in g.traps}


def slate_date_of(moment: datetime) -> date:
    """The slate (US/Eastern) date of a UTC instant; a fixed UTC-5 is close enough here."""
    return (moment - timedelta(hours=5)).date()


def games_around(moment: datetime, before: int = 1, after: int = 1) -> list[Game]:
    """Games of the slates from `before` days before to `after` days after `moment`'s date."""
    day = slate_date_of(moment)
    return [g for d in range(-before, after + 1) for g in slate(day + timedelta(days=d)).games]


def find_game(event_id: str, moment: datetime) -> Game | None:
    """The game with this Odds API id among slates from 3 days before to 7 days after `moment`."""
    return next((g for g in games_around(moment, 3, 7) if g.event_id == event_id), None)


def find_bp_game(bp_event_id: int) -> Game | None:
    """The game with this BettingPros event id, if the id is one the stand-in hands out."""
    offset = bp_event_id - _BP_BASE
    if offset < 0:
        return None
    games = slate(_BP_EPOCH + timedelta(days=offset // 10)).games
    return games[offset % 10] if offset % 10 < len(games) else None


# -- lines and prices --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """One line of one player at one book: over/under prices in American odds."""

    player: Player
    line: float
    over: int
    under: int
    main: bool = True


@dataclass(frozen=True, slots=True)
class BookMarket:
    """One book's market for one game at one moment."""

    book: Book
    market: str
    last_update: datetime
    quotes: tuple[Quote, ...]


_BUCKET = timedelta(minutes=30)
_OPEN = time(10, 0)


def market_players(game: Game, market: str, players: tuple[Player, ...]) -> tuple[Player, ...]:
    """The players of a board who get `market`; the incident's bad players only get points."""
    if market == "points":
        return players
    floor = _MARKET_MIN_AVERAGE[market]
    return tuple(p for p in players if p.average(market) >= floor and game.trap(p) is None)


def opening_time(game: Game) -> datetime:
    """When the slate's lines open: 10:00 UTC of the slate date."""
    return datetime.combine(game.slate_date, _OPEN, UTC)


def consensus_line(game: Game, player: Player, market: str, at: datetime) -> float:
    """The market's line at `at`: the opening line moved part of the way to the closing one."""
    opening = opening_line(game, player, market)
    move = _close_move(game, player, market) * _progress(game, at)
    return _clamp_line(market, opening + math.copysign(math.floor(abs(move) + 0.5), move))


def opening_line(game: Game, player: Player, market: str) -> float:
    form = 1 + 0.06 * (2 * _fixed_unit("form", player.name, market, game.slate_date) - 1)
    # x.5 lines only: a whole-number line (e.g. exactly 20.0) would be a push, books avoid it.
    return _clamp_line(market, math.floor(player.average(market) * form) + 0.5)


def book_line(game: Game, player: Player, market: str, book: str, at: datetime) -> float:
    """A book's main line: the consensus, sometimes a point off."""
    u = _fixed_unit("offset", player.name, market, book, game.slate_date)
    offset = -1 if u < 0.15 else 1 if u > 0.85 else 0
    return _clamp_line(market, consensus_line(game, player, market, at) + offset)


def book_prices(
    game: Game, player: Player, market: str, book: str, at: datetime, shift: int = 0
) -> tuple[int, int]:
    """(over, under) American prices at the book's main line moved by `shift` points."""
    lean = 0.5 + 0.035 * (
        2 * unit("lean", game.event_id, player.name, market, book, _bucket(at)) - 1
    )
    # Each point above the main line makes the over about 11 % less likely, so alternates are
    # always further from even than the main pair (parsers find the main line that way).
    p_over = min(0.94, max(0.06, lean - 0.11 * shift))
    vig = _VIG[book]
    return american(p_over + vig / 2), american(1 - p_over + vig / 2)


def odds_api_board(
    game: Game,
    at: datetime,
    markets: tuple[str, ...] = MARKETS,
    books: tuple[Book, ...] = ODDS_API_BOOKS,
) -> tuple[BookMarket, ...]:
    """What The Odds API's books post for `game` at `at`, book by book, market by market."""
    boards = []
    for book in books:
        for market in markets:
            if market in _MISSING_MARKETS.get(book.key, ()):
                continue
            # A market shows what the book posted at its last update (a stale one stays put).
            posted = last_update(game, book.key, market, at)
            quotes = [
                quote
                for player in market_players(game, market, game.prop_players)
                if _odds_api_offers(game, player, market, book.key)
                for quote in _odds_api_quotes(game, player, market, book.key, posted)
            ]
            if quotes:
                boards.append(BookMarket(book, market, posted, tuple(quotes)))
    return tuple(boards)


def bettingpros_books(game: Game, player: Player, market: str) -> tuple[Book, ...]:
    """The real books (consensus aside) posting `player` in `market` on BettingPros: two or more."""
    scale = _MARKET_RATE[market]
    books = tuple(
        b
        for b in BETTINGPROS_BOOKS
        if _fixed_unit("bp-offer", game.event_id, player.name, market, b.key)
        < _BETTINGPROS_RATE[b.key] * scale
    )
    # DraftKings, then FanDuel, fill in so that no player rests on a single book.
    for fill in BETTINGPROS_BOOKS[:2]:
        if len(books) < 2 and fill not in books:
            books = (*books, fill)
    return tuple(sorted(books, key=BETTINGPROS_BOOKS.index))


def last_update(game: Game, book: str, market: str, at: datetime) -> datetime:
    """When a book last touched a market: minutes before `at`, hours for the stale trap."""
    u = unit("updated", game.event_id, book, market, at.isoformat())
    if market == "points" and book in STALE_BOOKS and any(r == STALE for _, r in game.traps):
        return _whole_second(at - timedelta(hours=5, minutes=10 + 100 * u))
    return _whole_second(at - timedelta(seconds=20 + 540 * u))


def _odds_api_offers(game: Game, player: Player, market: str, book: str) -> bool:
    reason = game.trap(player)
    if reason == STALE:
        return book in STALE_BOOKS
    if reason == SINGLE_BOOK:
        return book == "draftkings"
    if reason is not None and book == LADDER_BOOK:
        return False  # keep the bad players' main line unambiguous: no ladder
    if market == "points" and book in ("draftkings", "fanduel"):
        return True  # every player has at least two fresh books
    rate = _ODDS_API_RATE[book] * _MARKET_RATE[market]
    return _fixed_unit("offer", game.event_id, player.name, market, book) < rate


def _odds_api_quotes(
    game: Game, player: Player, market: str, book: str, at: datetime
) -> list[Quote]:
    reason = game.trap(player)
    if reason == OUT_OF_RANGE:
        over, under = book_prices(game, player, market, book, at)
        return [Quote(player, 4.5, over, under)]
    line = book_line(game, player, market, book, at)
    if reason == INCONSISTENT_PRICES:
        # Both sides at plus money: implied probabilities sum below 1, which no book can post.
        u = unit("bad-prices", player.name, book, _bucket(at))
        return [Quote(player, line, 102 + int(u * 10), 102 + int((1 - u) * 10))]
    shifts: range | tuple[int] = (0,)
    if market == "points" and book == LADDER_BOOK:
        width = 1 + int(3 * unit("ladder", game.event_id, player.name, _bucket(at)))
        shifts = range(-width, width + 1)
    quotes = []
    for shift in shifts:
        if line + shift <= 0:
            continue
        over, under = book_prices(game, player, market, book, at, shift)
        quotes.append(Quote(player, line + shift, over, under, main=shift == 0))
    return quotes


def _close_move(game: Game, player: Player, market: str) -> int:
    u = _fixed_unit("move", player.name, market, game.slate_date)
    # About a quarter of lines never move; the rest move up to _MAX_MOVE points.
    steps = _MAX_MOVE[market]
    if u < 0.25:
        return 0
    size = min(steps, 1 + int((u - 0.25) / 0.75 * steps))
    return size if _fixed_unit("sign", player.name, market, game.slate_date) < 0.5 else -size


def _progress(game: Game, at: datetime) -> float:
    """How far through the opening-to-tip-off window `at` is, in whole 30-minute buckets."""
    opened = opening_time(game)
    total = max(1, (game.commence_time - opened) // _BUCKET)
    done = max(0, (at - opened) // _BUCKET)
    return min(1.0, done / total)


def _bucket(at: datetime) -> int:
    return int(at.timestamp()) // 1800


def _clamp_line(market: str, line: float) -> float:
    lo, hi = _LINE_RANGE[market]
    return min(hi, max(lo, line))


def american(probability: float) -> int:
    """The American price of an implied probability (favourites negative)."""
    if probability >= 0.5:
        price = -round(100 * probability / (1 - probability))
        return 100 if price == -100 else price
    return round(100 * (1 - probability) / probability)


def decimal_price(american_price: int) -> float:
    """The decimal price of an American one, to 2 places as The Odds API sends it."""
    return round(american_to_decimal_scalar(american_price), 2)


# -- helpers -----------------------------------------------------------------------------------


def unit(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`: the only source of randomness for lines."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# Draws that do not depend on the clock repeat for every snapshot of a game: remember them.
_fixed_unit = lru_cache(maxsize=1 << 17)(unit)


def hex_id(*parts: object) -> str:
    """A stable 32-hex id for anything (events, offers, selections, Sportradar ids)."""
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _slug(text: str) -> str:
    """'De'Andre Lockhart Jr.' -> 'deandre-lockhart-jr' (URL slugs are ASCII)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    kept = "".join(c if c.isalnum() else " " for c in folded.replace("'", "").replace(".", ""))
    return "-".join(kept.split())
