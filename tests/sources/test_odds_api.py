"""The Odds API v4 parsers, specified against the recorded shapes and traps in providers.md §1."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from lineflow.core.schema import PARSED_COLUMNS, PROP_LINES
from lineflow.sources.base import EVENT_COLUMNS, FileMeta, ParseContext, ParseError
from lineflow.sources.odds_api import parse_event_odds, parse_events

SAMPLES = Path(__file__).parent / "samples"
FETCHED_AT = datetime(2024, 2, 22, 23, 56, 0, tzinfo=UTC)
CTX = ParseContext(markets={"player_points": "points"})


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def meta(fetched_at: datetime = FETCHED_AT) -> FileMeta:
    return FileMeta(
        file_id="f" * 64,
        source="odds_api",
        endpoint="event_odds",
        slate_date=date(2024, 2, 22),
        fetched_at=fetched_at,
    )


def parse(name: str, ctx: ParseContext = CTX) -> pl.DataFrame:
    return parse_event_odds(sample(name), meta(), ctx)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def row(frame: pl.DataFrame, **where: object) -> dict[str, object]:
    matches = frame.filter(**where)
    assert matches.height == 1, f"{where}: {matches.height} rows"
    return matches.row(0, named=True)


PARSED_SCHEMA = {name: PROP_LINES[name] for name in PARSED_COLUMNS}


# --- shape and schema ----------------------------------------------------------------------


def test_live_event_odds_have_the_parsed_columns_and_prop_lines_dtypes() -> None:
    frame = parse("odds_api_event_odds_live.json")
    assert frame.columns == list(PARSED_COLUMNS)
    assert dict(frame.schema) == PARSED_SCHEMA


def test_one_row_per_book_market_player_side_line() -> None:
    frame = parse("odds_api_event_odds_live.json")
    # draftkings 6 + 2, caesars 2, betrivers 12 (ladder), betonline 2, fanduel 4, bovada 0
    assert frame.height == 28
    key = ["bookmaker", "market", "player_key", "side", "line"]
    assert frame.select(key).is_unique().all()


def test_event_fields_come_from_the_body_and_source_from_meta() -> None:
    first = parse("odds_api_event_odds_live.json").row(0, named=True)
    assert first["source"] == "odds_api"
    assert first["event_id"] == "f54c4a22568ce9dc33fb410d1b0e75e9"
    assert first["commence_time"] == utc(2024, 2, 23, 0, 0)
    assert first["home_team"] == "Cleveland Cavaliers"
    assert first["away_team"] == "Orlando Magic"


def test_slate_date_is_the_eastern_date_of_commence_time() -> None:
    # 2024-02-23T00:00Z is 19:00 on the 22nd in New York.
    assert parse("odds_api_event_odds_live.json")["slate_date"].unique().to_list() == [
        date(2024, 2, 22)
    ]


def test_market_keys_map_through_the_context_and_unknown_keys_pass_through() -> None:
    markets = set(parse("odds_api_event_odds_live.json")["market"])
    assert markets == {"points", "player_rebounds"}


def test_bookmaker_keys_map_through_the_context() -> None:
    ctx = ParseContext(books={"williamhill_us": "caesars"})
    books = set(parse("odds_api_event_odds_live.json", ctx)["bookmaker"])
    assert "caesars" in books and "williamhill_us" not in books and "draftkings" in books


def test_books_missing_a_market_are_simply_absent() -> None:
    frame = parse("odds_api_event_odds_live.json")
    rebounds = frame.filter(market="player_rebounds")
    assert set(rebounds["bookmaker"]) == {"draftkings"}
    assert rebounds.height == 2


def test_yes_no_and_scorer_markets_are_skipped_not_errors() -> None:
    frame = parse("odds_api_event_odds_live.json")
    assert "bovada" not in set(frame["bookmaker"])
    assert set(frame["side"]) == {"over", "under"}


def test_empty_bookmakers_give_an_empty_frame_with_the_schema() -> None:
    frame = parse("odds_api_event_odds_empty.json")
    assert frame.height == 0
    assert dict(frame.schema) == PARSED_SCHEMA


# --- prices --------------------------------------------------------------------------------


def test_american_prices_fill_decimal_and_implied_probability() -> None:
    frame = parse("odds_api_event_odds_live.json")
    over = row(frame, bookmaker="draftkings", player_name="Caris LeVert", side="over")
    assert over["line"] == 11.5
    assert over["price_american"] == -130
    assert over["price_decimal"] == pytest.approx(1.769231, abs=1e-6)  # 1 + 100/130
    assert over["implied_prob"] == pytest.approx(0.565217, abs=1e-6)  # 130/230
    under = row(frame, bookmaker="draftkings", player_name="Caris LeVert", side="under")
    assert (under["price_american"], under["price_decimal"], under["implied_prob"]) == (
        100,
        2.0,
        0.5,
    )


def test_decimal_prices_fill_rounded_american() -> None:
    frame = parse("odds_api_event_odds_historical.json")
    over = row(frame, side="over")
    assert over["price_decimal"] == 1.83
    assert over["price_american"] == -120  # -100 / 0.83 = -120.48
    assert over["implied_prob"] == pytest.approx(0.546448, abs=1e-6)  # 1 / 1.83
    under = row(frame, side="under")
    assert under["price_american"] == -110  # -100 / 0.91 = -109.89
    assert under["implied_prob"] == pytest.approx(0.523560, abs=1e-6)


def test_price_format_is_decided_per_value() -> None:
    frame = parse("odds_api_event_odds_prices.json")
    prices = {
        (r["player_name"], r["side"]): (r["price_american"], r["price_decimal"])
        for r in frame.iter_rows(named=True)
    }
    assert prices[("Caris LeVert", "over")] == (-130, pytest.approx(1.769231, abs=1e-6))
    assert prices[("Caris LeVert", "under")] == (106, pytest.approx(2.06))
    assert prices[("Darius Garland", "over")] == (-120, 1.83)
    assert prices[("Darius Garland", "under")] == (100, 2.0)  # a whole decimal sent as int 2
    assert prices[("Evan Mobley", "over")] == (150, 2.5)
    assert prices[("Evan Mobley", "under")] == (None, None)  # int -50 is neither format


# --- main line -----------------------------------------------------------------------------


def test_ladder_main_line_is_the_pair_closest_to_even() -> None:
    frame = parse("odds_api_event_odds_live.json")
    suggs = frame.filter(bookmaker="betrivers", player_name="Jalen Suggs")
    assert suggs.height == 12
    # 11.5 is -124/-108: |124/224 - 108/208| = 0.034, the smallest gap on the ladder.
    assert sorted(set(suggs.filter("is_main_line")["line"])) == [11.5]
    assert suggs.filter("is_main_line").height == 2


def test_main_line_tie_goes_to_the_lower_line() -> None:
    frame = parse("odds_api_event_odds_live.json")
    wagner = frame.filter(bookmaker="fanduel", player_name="Franz Wagner")
    # 19.5 is +100/-120 and 20.5 is -120/+100: the same gap.
    assert set(wagner.filter("is_main_line")["line"]) == {19.5}


def test_a_single_line_is_main() -> None:
    frame = parse("odds_api_event_odds_live.json")
    single = frame.filter(pl.col("bookmaker") != "betrivers", pl.col("bookmaker") != "fanduel")
    assert single["is_main_line"].all()


def test_under_listed_before_over_still_pairs_up() -> None:
    frame = parse("odds_api_event_odds_live.json")
    garland = frame.filter(bookmaker="betonlineag")
    assert dict(zip(garland["side"], garland["price_american"], strict=True)) == {
        "under": -115,
        "over": -105,
    }
    assert garland["is_main_line"].all()


def test_every_ladder_has_one_main_line_per_side_at_scale() -> None:
    frame = parse_event_odds(_synthetic_body(books=8, players=12, lines=5), meta(), CTX)
    assert frame.height == 8 * 4 * 12 * 5 * 2
    mains = frame.filter("is_main_line").group_by("bookmaker", "market", "player_key", "side")
    assert mains.len()["len"].to_list() == [1] * (8 * 4 * 12 * 2)


# --- players -------------------------------------------------------------------------------


def test_player_names_are_kept_as_given_and_keyed_without_suffix_or_apostrophe() -> None:
    live = parse("odds_api_event_odds_live.json")
    carter = live.filter(player_name="Wendell Carter Jr.")
    assert set(carter["player_key"]) == {"wendell_carter"}
    wnba = parse("odds_api_event_odds_wnba.json")
    assert set(zip(wnba["player_name"], wnba["player_key"], strict=True)) == {
        ("Flau'jae Johnson", "flaujae_johnson")
    }


# --- timestamps ----------------------------------------------------------------------------


def test_last_update_is_market_level_else_bookmaker_level_else_null() -> None:
    frame = parse("odds_api_event_odds_last_update.json")
    updates = dict(zip(frame["bookmaker"], frame["last_update"], strict=False))
    assert updates["fanduel"] == utc(2024, 2, 22, 23, 55, 20)  # market level
    assert updates["betmgm"] == utc(2024, 2, 22, 23, 51, 0)  # bookmaker level
    assert updates["bovada"] is None  # neither


def test_market_last_update_wins_over_bookmaker_last_update() -> None:
    frame = parse("odds_api_event_odds_historical.json")
    assert set(frame["last_update"]) == {utc(2023, 11, 29, 22, 40, 55)}


def test_live_snapshot_at_is_the_fetch_time() -> None:
    frame = parse("odds_api_event_odds_live.json")
    assert set(frame["snapshot_at"]) == {FETCHED_AT}


def test_naive_fetch_time_is_read_as_utc() -> None:
    body = sample("odds_api_event_odds_wnba.json")
    frame = parse_event_odds(body, meta(datetime(2026, 5, 13, 17, 2)), CTX)
    assert set(frame["snapshot_at"]) == {utc(2026, 5, 13, 17, 2)}


def test_historical_wrapper_gives_snapshot_at_and_the_event_in_data() -> None:
    frame = parse("odds_api_event_odds_historical.json")
    assert frame.height == 2
    first = frame.row(0, named=True)
    assert first["snapshot_at"] == utc(2023, 11, 29, 22, 40, 39)
    assert first["event_id"] == "da359da99aa27e97d38f2df709343998"
    assert first["home_team"] == "Detroit Pistons"
    assert first["player_key"] == "anthony_davis"
    assert first["slate_date"] == date(2023, 11, 29)  # 00:10Z is 19:10 the day before in ET


def test_unix_date_format_is_accepted() -> None:
    frame = parse("odds_api_event_odds_unix.json")
    first = frame.row(0, named=True)
    assert first["commence_time"] == utc(2024, 2, 23, 0, 0)
    assert first["last_update"] == utc(2024, 2, 22, 23, 55, 7)
    assert first["slate_date"] == date(2024, 2, 22)


# --- events --------------------------------------------------------------------------------


def test_events_array_parses_to_event_columns() -> None:
    events = parse_events(sample("odds_api_events.json"))
    assert dict(events.schema) == EVENT_COLUMNS
    assert events.height == 2
    nba = events.filter(event_id="f54c4a22568ce9dc33fb410d1b0e75e9").row(0, named=True)
    assert nba == {
        "event_id": "f54c4a22568ce9dc33fb410d1b0e75e9",
        "commence_time": utc(2024, 2, 23, 0, 0),
        "home_team": "Cleveland Cavaliers",
        "away_team": "Orlando Magic",
    }


def test_historical_events_wrapper_parses_its_data_array() -> None:
    events = parse_events(sample("odds_api_events_historical.json"))
    assert events["event_id"].to_list() == ["da359da99aa27e97d38f2df709343998"]
    assert events["commence_time"].to_list() == [utc(2023, 11, 30, 0, 10)]


def test_events_accept_unix_commence_time() -> None:
    events = parse_events(sample("odds_api_events_unix.json"))
    assert events["commence_time"].to_list() == [utc(2024, 2, 23, 0, 0)]


def test_empty_events_list_is_an_empty_frame() -> None:
    events = parse_events(b"[]")
    assert events.height == 0 and dict(events.schema) == EVENT_COLUMNS


# --- errors --------------------------------------------------------------------------------


def _parse_error(body: bytes) -> str:
    with pytest.raises(ParseError) as caught:
        parse_event_odds(body, meta(), CTX)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_truncated_body_says_where_and_suspects_truncation() -> None:
    body = sample("odds_api_event_odds_live.json")
    message = _parse_error(body[:1234])
    assert message.startswith("odds_api event odds: invalid JSON at byte ")
    assert message.endswith("(truncated?)")


def test_body_cut_inside_a_string_is_reported_as_truncated() -> None:
    assert "(truncated?)" in _parse_error(b'{"id":"f54c4a22568ce9dc33fb')


def test_corrupt_json_names_the_byte() -> None:
    message = _parse_error(b'{"id": "x", "bookmakers": [}, "more": 1}')
    assert "invalid JSON at byte 27" in message
    assert "truncated" not in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body"),
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
        (b'{"id": "\xc3\x28"}', "not UTF-8"),
    ],
)
def test_undecodable_bodies_raise_parse_error(body: bytes, expected: str) -> None:
    assert expected in _parse_error(body)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("odds_api_error_out_of_credits.json", "OUT_OF_USAGE_CREDITS"),
        ("odds_api_error_invalid_key.json", "INVALID_KEY"),
        ("odds_api_error_event_not_found.json", "EVENT_NOT_FOUND"),
    ],
)
def test_error_bodies_raise_parse_error_naming_the_code(name: str, code: str) -> None:
    message = _parse_error(sample(name))
    assert message.startswith("odds_api event odds: error body")
    assert code in message
    with pytest.raises(ParseError, match=code):
        parse_events(sample(name))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (sample("odds_api_events.json"), "expected an event object, got an array"),
        (sample("odds_api_events_historical.json"), "'data' is an array"),
        (b'"hello"', "got a string"),
        (b'{"id": "x", "commence_time": "2024-02-23T00:00:00Z"}', "lacks bookmakers"),
        (
            b'{"id": "x", "commence_time": "2024-02-23T00:00:00Z", "bookmakers": {}}',
            "'bookmakers' should be an array",
        ),
        (
            b'{"id": "x", "commence_time": "2024-02-23T00:00:00Z", "bookmakers": [{"key": "b"}]}',
            "bookmakers[0]: missing key 'markets'",
        ),
        (
            b'{"id": "x", "commence_time": "2024-02-23T00:00:00Z", "bookmakers": [{"key": "b",'
            b' "markets": [{"key": "m", "outcomes": [1]}]}]}',
            "bookmakers[0].markets[0]",
        ),
        (b'{"id": "x", "commence_time": "soon", "bookmakers": []}', "bad commence_time 'soon'"),
    ],
)
def test_wrong_shapes_raise_parse_error_saying_what_is_wrong(body: bytes, expected: str) -> None:
    assert expected in _parse_error(body)


def test_events_parser_rejects_wrong_shapes() -> None:
    with pytest.raises(ParseError, match="expected an array of events"):
        parse_events(sample("odds_api_event_odds_live.json"))
    with pytest.raises(ParseError, match="item 0 is not an event"):
        parse_events(b'[{"home_team": "x"}]')
    with pytest.raises(ParseError, match="commence_time 'tomorrow'"):
        parse_events(b'[{"id": "x", "commence_time": "tomorrow"}]')
    with pytest.raises(ParseError, match="truncated"):
        parse_events(sample("odds_api_events.json")[:40])


# --- helpers -------------------------------------------------------------------------------


def _synthetic_body(books: int, players: int, lines: int) -> bytes:
    """An event with `lines` points per player in each of 4 markets for every book."""
    prices = [-150, -130, -110, 100, 120, 145]
    markets = ["player_points", "player_rebounds", "player_assists", "player_threes"]
    bookmakers = []
    for b in range(books):
        book_markets = []
        for m, market in enumerate(markets):
            outcomes = []
            for p in range(players):
                for k in range(lines):
                    point = 10.5 + p + k
                    for s, side in enumerate(("Over", "Under")):
                        price = prices[(b + m + p + k * 2 + s) % len(prices)]
                        description = f"Player {p} Jr."
                        outcomes.append(
                            {
                                "name": side,
                                "description": description,
                                "price": price,
                                "point": point,
                            }
                        )
            book_markets.append(
                {"key": market, "last_update": "2024-02-22T23:55:07Z", "outcomes": outcomes}
            )
        bookmakers.append({"key": f"book{b}", "title": f"Book {b}", "markets": book_markets})
    event = {
        "id": "f54c4a22568ce9dc33fb410d1b0e75e9",
        "commence_time": "2024-02-23T00:00:00Z",
        "home_team": "Cleveland Cavaliers",
        "away_team": "Orlando Magic",
        "bookmakers": bookmakers,
    }
    return json.dumps(event).encode()
