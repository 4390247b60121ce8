"""BettingPros v3 parsers, specified against the recorded shapes and traps in providers.md §2."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from lineflow.core.schema import PARSED_COLUMNS, PROP_LINES
from lineflow.sources.base import (
    EVENT_COLUMNS,
    FileMeta,
    ParseContext,
    ParseError,
    ProviderOutage,
)
from lineflow.sources.bettingpros import pagination, parse_events, parse_offers

SAMPLES = Path(__file__).parent / "samples"
FETCHED_AT = datetime(2026, 6, 1, 19, 10, 0, tzinfo=UTC)
BOOKS = {
    "10": "fanduel",
    "12": "draftkings",
    "13": "williamhill_us",
    "18": "betrivers",
    "19": "betmgm",
}
PARSED_SCHEMA = {name: PROP_LINES[name] for name in PARSED_COLUMNS}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def meta(slate_date: date = date(2026, 6, 1)) -> FileMeta:
    return FileMeta(
        file_id="b" * 64,
        source="bettingpros",
        endpoint="offers",
        slate_date=slate_date,
        fetched_at=FETCHED_AT,
    )


def context(events: pl.DataFrame | None = None) -> ParseContext:
    if events is None:
        events = parse_events(sample("bettingpros_events.json"))
    return ParseContext(markets={"156": "player_points"}, books=BOOKS, events=events)


def offers(name: str = "bettingpros_offers_page1.json", **kwargs: object) -> pl.DataFrame:
    return parse_offers(sample(name), meta(), context(**kwargs))  # type: ignore[arg-type]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def row(frame: pl.DataFrame, **where: object) -> dict[str, object]:
    matches = frame.filter(**where)
    assert matches.height == 1, f"{where}: {matches.height} rows"
    return matches.row(0, named=True)


# --- events --------------------------------------------------------------------------------


def test_events_parse_to_event_columns_with_full_team_names() -> None:
    events = parse_events(sample("bettingpros_events.json"))
    assert dict(events.schema) == EVENT_COLUMNS
    assert events.row(0, named=True) == {
        "event_id": "98221",  # str of the int id
        "commence_time": utc(2026, 6, 1, 22, 40),  # "scheduled" read as UTC
        "home_team": "Tampa Bay Rays",
        "away_team": "Detroit Tigers",  # the away team is the "visitor"
    }


def test_events_fall_back_to_the_abbreviation_without_city_and_name() -> None:
    nba = parse_events(sample("bettingpros_events.json")).row(1, named=True)
    assert (nba["home_team"], nba["away_team"]) == ("Golden State Warriors", "LAL")
    assert nba["commence_time"] == utc(2026, 6, 2, 1, 30)


def test_events_errors() -> None:
    with pytest.raises(ParseError, match="scheduled 'June 1st' is not"):
        parse_events(b'{"events": [{"id": 1, "scheduled": "June 1st"}]}')
    with pytest.raises(ParseError, match="item 0 has no 'id'"):
        parse_events(b'{"events": [{"scheduled": "2026-06-01 22:40:00"}]}')
    with pytest.raises(ParseError, match="outage sentinel 'error'"):
        parse_events(b'{"events": ["error"]}')
    with pytest.raises(ParseError, match="truncated"):
        parse_events(sample("bettingpros_events.json")[:100])
    assert parse_events(b'{"events": []}').height == 0


# --- offers: shape and schema --------------------------------------------------------------


def test_offers_have_the_parsed_columns_and_prop_lines_dtypes() -> None:
    frame = offers()
    assert frame.columns == list(PARSED_COLUMNS)
    assert dict(frame.schema) == PARSED_SCHEMA


def test_offers_flatten_to_one_row_per_live_book_line() -> None:
    frame = offers()
    # Ty Madden: over fanduel, draftkings x2, book 33; under fanduel, draftkings x2.
    # Wendell Carter Jr.: over and under at fanduel. Shane McClanahan: over only.
    assert frame.height == 10
    key = ["bookmaker", "market", "player_key", "side", "line"]
    assert frame.select(key).is_unique().all()


def test_consensus_book_zero_is_not_a_bookmaker() -> None:
    assert "bettingpros_book_0" not in set(offers()["bookmaker"])


def test_pulled_inactive_and_replaced_lines_are_skipped() -> None:
    books = set(offers()["bookmaker"])
    assert "betrivers" not in books  # is_off: true
    assert "betmgm" not in books  # active: false
    assert "williamhill_us" not in books  # replaced: true


def test_inactive_offers_and_selections_are_skipped() -> None:
    frame = offers()
    assert "Tarik Skubal" not in set(frame["player_name"])  # offer active: false
    mcclanahan = frame.filter(player_name="Shane McClanahan")
    assert mcclanahan["side"].to_list() == ["over"]  # the under selection is inactive


def test_unknown_book_ids_get_a_placeholder_name() -> None:
    madden = offers().filter(player_name="Ty Madden", bookmaker="bettingpros_book_33")
    assert madden["side"].to_list() == ["over"]  # this selection's under has no book 33


def test_two_lines_per_book_keep_the_main_flag() -> None:
    draftkings = offers().filter(player_name="Ty Madden", bookmaker="draftkings")
    flags = {(r["side"], r["line"]): r["is_main_line"] for r in draftkings.iter_rows(named=True)}
    assert flags == {
        ("over", 3.5): True,
        ("over", 4.5): False,
        ("under", 3.5): True,
        ("under", 4.5): False,
    }


def test_cost_is_the_american_price_with_decimal_and_implied_filled() -> None:
    frame = offers()
    over = row(frame, player_name="Ty Madden", bookmaker="fanduel", side="over")
    assert (over["line"], over["price_american"]) == (3.5, -146)
    assert over["price_decimal"] == pytest.approx(1.684932, abs=1e-6)  # 1 + 100/146
    assert over["implied_prob"] == pytest.approx(0.593496, abs=1e-6)  # 146/246
    under = row(frame, player_name="Ty Madden", bookmaker="fanduel", side="under")
    assert under["price_american"] == 110
    assert under["price_decimal"] == pytest.approx(2.1)
    assert under["implied_prob"] == pytest.approx(0.476190, abs=1e-6)  # 100/210
    alt = row(frame, player_name="Ty Madden", bookmaker="draftkings", side="over", line=4.5)
    assert (alt["price_american"], alt["price_decimal"], alt["implied_prob"]) == (150, 2.5, 0.4)


def test_market_ids_map_through_the_context_and_unknown_ids_pass_through() -> None:
    frame = offers()
    markets = dict(zip(frame["player_name"], frame["market"], strict=False))
    assert markets["Wendell Carter Jr."] == "player_points"  # 156
    assert markets["Ty Madden"] == "285"


def test_player_name_falls_back_to_first_and_last_name() -> None:
    carter = offers().filter(bookmaker="fanduel", player_name="Wendell Carter Jr.")
    assert carter.height == 2
    assert set(carter["player_key"]) == {"wendell_carter"}


def test_timestamps_last_update_and_snapshot() -> None:
    over = row(offers(), player_name="Ty Madden", bookmaker="fanduel", side="over")
    assert over["last_update"] == utc(2026, 6, 1, 19, 6, 44)  # line "updated", UTC
    assert over["snapshot_at"] == FETCHED_AT
    assert over["source"] == "bettingpros"


def test_known_events_give_teams_commence_time_and_eastern_slate() -> None:
    madden = offers().filter(player_name="Ty Madden").row(0, named=True)
    assert madden["event_id"] == "98221"
    assert madden["commence_time"] == utc(2026, 6, 1, 22, 40)
    assert (madden["home_team"], madden["away_team"]) == ("Tampa Bay Rays", "Detroit Tigers")
    assert madden["slate_date"] == date(2026, 6, 1)  # 18:40 in New York


def test_unknown_events_leave_teams_null_and_take_the_slate_from_meta() -> None:
    carter = offers().filter(player_name="Wendell Carter Jr.").row(0, named=True)
    assert carter["event_id"] == "99999"
    assert (carter["commence_time"], carter["home_team"], carter["away_team"]) == (None,) * 3
    assert carter["slate_date"] == date(2026, 6, 1)


def test_late_games_belong_to_the_eastern_date() -> None:
    events = pl.DataFrame(
        {
            "event_id": ["98221"],
            "commence_time": [utc(2026, 6, 2, 1, 30)],  # 21:30 on June 1st in New York
            "home_team": ["Tampa Bay Rays"],
            "away_team": ["Detroit Tigers"],
        },
        schema=EVENT_COLUMNS,
    )
    frame = parse_offers(
        sample("bettingpros_offers_page1.json"), meta(date(2026, 6, 2)), context(events)
    )
    assert set(frame.filter(player_name="Ty Madden")["slate_date"]) == {date(2026, 6, 1)}


def test_without_events_every_row_takes_the_meta_slate() -> None:
    ctx = ParseContext(books=BOOKS)
    frame = parse_offers(sample("bettingpros_offers_page1.json"), meta(), ctx)
    assert frame["commence_time"].null_count() == frame.height
    assert set(frame["slate_date"]) == {date(2026, 6, 1)}


# --- outages and empty pages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bettingpros_offers_outage_sentinel.json", "outage sentinel 'error' in 'offers'"),
        ("bettingpros_offers_outage_empty.json", "empty on page 1 of 3 while total_items is 25"),
        ("bettingpros_props_outage_sentinel.json", "outage sentinel 'error' in 'props'"),
        ("bettingpros_props_outage_empty.json", "empty on page 1 of 14 while total_items is 2669"),
        ("bettingpros_forbidden.json", "provider says 'Forbidden'"),
    ],
)
def test_outage_pages_raise_provider_outage(name: str, expected: str) -> None:
    with pytest.raises(ProviderOutage) as caught:
        offers(name)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "name", ["bettingpros_offers_empty.json", "bettingpros_offers_past_end.json"]
)
def test_empty_pages_that_are_not_outages_give_an_empty_frame(name: str) -> None:
    frame = offers(name)
    assert frame.height == 0
    assert dict(frame.schema) == PARSED_SCHEMA


def test_a_props_page_is_not_an_offers_page() -> None:
    with pytest.raises(ParseError, match="/v3/props page"):
        parse_offers(b'{"props": [{"market_id": 405}]}', meta(), context())


# --- pagination ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bettingpros_offers_page1.json", (1, 2, 14)),
        ("bettingpros_offers_page2.json", (2, 2, 14)),
        ("bettingpros_offers_outage_empty.json", (1, 3, 25)),
        ("bettingpros_props_outage_sentinel.json", (2, 14, 2669)),
        ("bettingpros_events.json", (1, 1, 2)),  # no _pagination: one page of what is there
    ],
)
def test_pagination(name: str, expected: tuple[int, int, int]) -> None:
    assert pagination(sample(name)) == expected


def test_second_page_parses_like_the_first() -> None:
    frame = offers("bettingpros_offers_page2.json")
    assert frame["player_name"].to_list() == ["Casey Mize", "Casey Mize"]
    assert set(frame["bookmaker"]) == {"draftkings"}


def test_pagination_rejects_invalid_json() -> None:
    with pytest.raises(
        ParseError, match="bettingpros page: invalid JSON at byte .* \\(truncated\\?\\)"
    ):
        pagination(sample("bettingpros_offers_page1.json")[:500])
    with pytest.raises(ParseError, match="unreadable _pagination"):
        pagination(b'{"offers": [], "_pagination": {"page": "first"}}')
    for number in (b"Infinity", b"NaN", b"1e400"):  # found by tests/fuzz: an OverflowError
        with pytest.raises(ParseError, match="unreadable _pagination"):
            pagination(b'{"offers": [], "_pagination": {"total_pages": ' + number + b"}}")


# --- corrupt bodies and wrong shapes -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (sample("bettingpros_offers_page1.json")[:2000], "invalid JSON at byte"),
        (b"<html>Service Unavailable</html>", "invalid JSON at byte 0"),
        (b"", "empty body"),
        (b"[]", "expected an object with 'offers', got an array"),
        (b'{"offers": {}}', "'offers' should be an array, got an object"),
        (b'{"offers": [1]}', "offers[0] is int, not an object"),
        (b'{"offers": [{"id": "x"}]}', "offers[0]: missing key 'selections'"),
        (b'{"offers": [{"selections": [{"books": [{"id": 10}]}]}]}', "missing key 'lines'"),
        (b'{"data": []}', "expected an object with 'offers'"),
    ],
)
def test_corrupt_bodies_raise_parse_error_saying_what_is_wrong(body: bytes, expected: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_offers(body, meta(), context())
    assert expected in str(caught.value)
    assert str(caught.value).startswith("bettingpros offers: ")
    assert "\n" not in str(caught.value)


def test_truncated_offers_page_suspects_truncation() -> None:
    with pytest.raises(ParseError, match=r"\(truncated\?\)$"):
        parse_offers(sample("bettingpros_offers_page1.json")[:2000], meta(), context())
