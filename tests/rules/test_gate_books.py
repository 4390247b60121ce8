"""The line-quality gate at its boundaries, and with books that several sources carry: each
expectation worked out by hand from conf/line_quality/default.yaml's thresholds."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from lineflow.rules import LineQualityConfig, line_quality
from tests.rules.lines import SNAP, books, frame, pair, quote

GATE = LineQualityConfig(estimating_sources=["estimated"])
SECOND = timedelta(seconds=1)


def judged(rows: pl.DataFrame, player: str = "test_player") -> dict:
    out = line_quality(rows, GATE).filter(pl.col("player_key") == player)
    assert out.height == 1
    row = out.row(0, named=True)
    return row | {"reasons": list(row["reasons"])}


def verdict(rows: pl.DataFrame) -> tuple[bool, list[str]]:
    row = judged(rows)
    return row["passed"], row["reasons"]


def test_exactly_max_age_is_fresh_a_second_more_is_stale():
    edge = SNAP - timedelta(hours=4)
    assert verdict(frame(books("draftkings", "fanduel", last_update=edge))) == (True, [])
    older = edge - SECOND
    assert verdict(frame(books("draftkings", "fanduel", last_update=older))) == (False, ["stale"])


def test_the_range_bounds_are_inside_it():
    for line in (5.5, 50.5):
        assert verdict(frame(books("draftkings", "fanduel", line=line))) == (True, [])
    for line in (5.0, 51.0):
        assert verdict(frame(books("draftkings", "fanduel", line=line))) == (
            False,
            ["out_of_range"],
        )


def test_the_pair_sum_bounds_are_inside_it():
    # implied 0.5 + 0.5 = 1.0 and 0.625 + 0.625 = 1.25: both consistent
    for prob in (0.5, 0.625):
        assert verdict(frame(books("draftkings", "fanduel", implied_prob=prob))) == (True, [])
    rows = frame(books("draftkings", "fanduel", implied_prob=0.63))
    assert verdict(rows) == (False, ["inconsistent_prices"])


def test_one_bookmaker_through_two_sources_is_one_book():
    rows = frame(
        books("draftkings", source="odds_api", event_id="oa1"),
        books("draftkings", source="bettingpros", event_id="bp1"),
    )
    row = judged(rows)
    assert (row["passed"], row["reasons"], row["books"], row["usable_books"]) == (
        False,
        ["too_few_books"],
        1,
        1,
    )


def test_the_books_freshest_quote_is_the_one_judged():
    stale = SNAP - timedelta(hours=5)
    fresh = dict(source="bettingpros", event_id="bp1", last_update=SNAP - 2 * SECOND)
    # draftkings' Odds API copy is 5 hours old, its BettingPros copy fresh: usable
    rows = frame(
        books("draftkings", last_update=stale), books("draftkings", **fresh), books("fanduel")
    )
    assert (judged(rows)["usable_books"], verdict(rows)) == (2, (True, []))
    # the other way round: its freshest quote is at 4.5, the older one was fine
    rows = frame(books("draftkings", line=4.5, **fresh), books("draftkings"), books("fanduel"))
    assert verdict(rows) == (False, ["out_of_range"])


def test_the_line_is_the_median_of_usable_books_only():
    old = SNAP - timedelta(hours=6)
    rows = frame(
        books("draftkings", "fanduel"),  # 18.5, usable
        books("bovada", "betrivers", line=30.5, last_update=old),  # stale
    )
    row = judged(rows)
    # all four books: median(18.5, 18.5, 30.5, 30.5) = 24.5; the usable two: 18.5
    assert (row["passed"], row["line"], row["books"], row["usable_books"]) == (True, 18.5, 4, 2)


def test_a_null_is_main_line_is_not_a_main_line():
    rows = frame(books("draftkings", "fanduel"), books("bovada", "betrivers", is_main_line=None))
    assert (judged(rows)["books"], judged(rows)["usable_books"]) == (2, 2)
    only_null = frame(books("draftkings", "fanduel", player_key="p2", is_main_line=None))
    assert line_quality(only_null, GATE).is_empty()


def test_a_null_line_is_no_line():
    assert verdict(frame(books("draftkings", "fanduel", line=None))) == (False, ["no_line"])


def test_a_book_quoting_one_side_is_one_sided():
    rows = frame(quote(bookmaker="draftkings"), quote(bookmaker="fanduel"))
    assert verdict(rows) == (False, ["one_sided"])


def test_over_and_under_at_different_lines_are_one_sided():
    rows = frame(
        books("fanduel"),
        quote(bookmaker="draftkings", side="over", line=18.5),
        quote(bookmaker="draftkings", side="under", line=19.5, last_update=SNAP - 9 * 60 * SECOND),
    )
    row = judged(rows)
    assert (row["passed"], row["reasons"], row["books"], row["usable_books"]) == (
        False,
        ["one_sided"],
        2,
        1,
    )


def test_too_few_books_is_said_beside_the_unusable_books_reasons():
    assert verdict(frame(pair(bookmaker="draftkings", line=None))) == (
        False,
        ["no_line", "too_few_books"],
    )
    # two books, both quoted: not too few, whatever else is wrong
    rows = frame(books("draftkings"), pair(bookmaker="fanduel", line=60.5))
    assert verdict(rows) == (False, ["out_of_range"])


def test_min_books_is_inclusive():
    rows = frame(books("draftkings", "fanduel", "betmgm"))
    assert line_quality(rows, LineQualityConfig(min_books=3))["passed"].to_list() == [True]
    assert line_quality(rows, LineQualityConfig(min_books=4))["reasons"].to_list() == [
        ["too_few_books"]
    ]


MIXED = frame(
    books("draftkings", source="odds_api"),
    books("draftkings", source="bettingpros", event_id="bp1", line=19.5),
    books("fanduel", last_update=SNAP - timedelta(hours=5)),
    books("betmgm", line=4.5),
    books("draftkings", "fanduel", player_key="other", player_name="Other"),
    pair(bookmaker="bovada", player_key="other", player_name="Other", line=None),
)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.permutations(range(MIXED.height)))
def test_the_verdict_does_not_depend_on_row_order(order):
    assert line_quality(MIXED[list(order)], GATE).equals(line_quality(MIXED, GATE))
