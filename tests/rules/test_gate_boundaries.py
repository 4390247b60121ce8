"""The line-quality gate at its edges: exact thresholds, NULLs, newest quotes, counting books.

Expectations are worked out by hand from the gate's settings (conf defaults: stale after 4 h,
points lines sane in [5.5, 50.5], implied pair sum in [1.0, 1.25], two usable books).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from lineflow.rules import LineQualityConfig, line_quality
from tests.rules.lines import SNAP, books, frame, pair, quote

GATE = LineQualityConfig(estimating_sources=["estimated"])


def judged(rows: pl.DataFrame, gate: LineQualityConfig = GATE) -> dict:
    out = line_quality(rows, gate)
    assert out.height == 1
    row = out.row(0, named=True)
    return {k: row[k] for k in ("passed", "reasons", "books", "usable_books", "line")}


def verdict(rows: pl.DataFrame, gate: LineQualityConfig = GATE) -> tuple[bool, list[str]]:
    row = judged(rows, gate)
    return row["passed"], row["reasons"]


def test_a_passing_players_row_says_how_many_books_and_the_line() -> None:
    rows = frame(books("draftkings", "fanduel", "betmgm"))
    out = line_quality(rows, GATE)
    assert out.row(0, named=True) == {
        "slate_date": rows["slate_date"][0],
        "player_key": "test_player",
        "market": "player_points",
        "passed": True,
        "reasons": [],
        "player_name": "Test Player",
        "books": 3,
        "usable_books": 3,
        "line": 18.5,
    }


def test_exactly_the_stale_age_is_still_fresh() -> None:
    gate = LineQualityConfig(max_age_hours=1.5)
    at_limit = SNAP - timedelta(minutes=90)
    past = SNAP - timedelta(minutes=90, seconds=1)
    assert verdict(frame(books("draftkings", "fanduel", last_update=at_limit)), gate) == (True, [])
    assert verdict(frame(books("draftkings", "fanduel", last_update=past)), gate) == (
        False,
        ["stale"],
    )


def test_a_book_is_as_fresh_as_its_freshest_side() -> None:
    old = SNAP - timedelta(hours=5)
    rows = frame(
        pair(bookmaker="fanduel"),
        quote(bookmaker="draftkings", side="over", last_update=old),
        quote(bookmaker="draftkings", side="under"),
    )
    assert verdict(rows) == (True, [])


def test_exactly_5_5_and_50_5_are_in_range() -> None:
    for line in (5.5, 50.5):
        assert verdict(frame(books("draftkings", "fanduel", line=line))) == (True, [])
    for line in (5.4, 50.6):
        assert verdict(frame(books("draftkings", "fanduel", line=line))) == (
            False,
            ["out_of_range"],
        )


def test_markets_without_a_range_are_not_range_checked() -> None:
    rows = frame(books("draftkings", "fanduel", market="player_rebounds", line=99.5))
    assert verdict(rows) == (True, [])


def test_pair_sums_at_exactly_the_bounds_are_consistent() -> None:
    gate = LineQualityConfig(pair_sum=(1.0, 1.2))
    assert verdict(frame(books("draftkings", "fanduel", implied_prob=0.5)), gate) == (True, [])
    assert verdict(frame(books("draftkings", "fanduel", implied_prob=0.6)), gate) == (True, [])
    assert verdict(frame(books("draftkings", "fanduel", implied_prob=0.61)), gate) == (
        False,
        ["inconsistent_prices"],
    )
    rows = frame(
        books("fanduel"),
        quote(bookmaker="draftkings", side="over", implied_prob=0.45),
        quote(bookmaker="draftkings", side="under", implied_prob=0.52),  # sums to 0.97
    )
    assert verdict(rows, gate) == (False, ["inconsistent_prices"])


def test_the_placeholder_needs_both_the_line_and_an_estimating_source() -> None:
    estimated_elsewhere = frame(books("draftkings", "fanduel", source="estimated", line=18.5))
    assert verdict(estimated_elsewhere) == (True, [])
    rows = frame(books("draftkings", source="estimated", line=20.0), books("fanduel"))
    assert verdict(rows) == (False, ["placeholder"])


def test_a_book_quoting_one_side_is_one_sided() -> None:
    rows = frame(books("fanduel"), quote(bookmaker="draftkings", side="over"))
    assert judged(rows) | {"line": None} == {
        "passed": False,
        "reasons": ["one_sided"],
        "books": 2,
        "usable_books": 1,
        "line": None,
    }
    under_only = frame(books("fanduel"), quote(bookmaker="draftkings", side="under"))
    assert verdict(under_only) == (False, ["one_sided"])


def test_a_book_without_a_line_has_no_line() -> None:
    rows = frame(books("fanduel"), pair(bookmaker="draftkings", line=None))
    assert verdict(rows) == (False, ["no_line"])


def test_a_side_without_a_line_is_not_at_the_books_line() -> None:
    rows = frame(
        books("fanduel"),
        quote(bookmaker="draftkings", side="over", line=None),
        quote(bookmaker="draftkings", side="under", line=18.5),
    )
    assert verdict(rows) == (False, ["one_sided"])


def test_a_null_main_line_flag_is_not_a_main_line() -> None:
    rows = frame(books("fanduel"), pair(bookmaker="draftkings", is_main_line=None))
    assert judged(rows)["books"] == 1
    assert verdict(rows) == (False, ["too_few_books"])


def test_the_newest_snapshot_decides_not_the_oldest() -> None:
    earlier = SNAP - timedelta(minutes=25)
    fixed_later = frame(
        books("draftkings", "fanduel", snapshot_at=earlier, line=4.5),
        books("draftkings", "fanduel"),
    )
    assert verdict(fixed_later) == (True, [])
    broken_later = frame(
        books("draftkings", "fanduel", snapshot_at=earlier),
        books("draftkings", "fanduel", line=4.5),
    )
    assert verdict(broken_later) == (False, ["out_of_range"])


def test_one_book_via_two_sources_is_one_book() -> None:
    rows = frame(books("draftkings"), books("draftkings", source="other_feed"))
    row = judged(rows)
    assert (row["books"], row["usable_books"]) == (1, 1)
    assert verdict(rows) == (False, ["too_few_books"])


def test_too_few_books_is_added_only_when_fewer_books_quoted() -> None:
    old = SNAP - timedelta(hours=5)
    assert verdict(frame(books("draftkings", last_update=old))) == (
        False,
        ["stale", "too_few_books"],
    )
    assert verdict(frame(books("draftkings", "fanduel", last_update=old))) == (False, ["stale"])
    three = LineQualityConfig(min_books=3)
    row = judged(frame(books("draftkings", "fanduel", "betmgm")), three)
    assert (row["passed"], row["reasons"]) == (True, [])
    row = judged(frame(books("draftkings", "fanduel")), three)
    assert (row["passed"], row["reasons"], row["usable_books"]) == (False, ["too_few_books"], 2)


def test_reasons_are_unique_and_sorted_and_only_from_unusable_books() -> None:
    old = SNAP - timedelta(hours=5)
    rows = frame(
        books("betmgm", "caesars"),
        books("draftkings", "fanduel", last_update=old, line=60.5),
    )
    assert verdict(rows, LineQualityConfig(min_books=3)) == (False, ["out_of_range", "stale"])


def test_the_line_is_the_median_of_the_usable_books_only() -> None:
    rows = frame(
        pair(bookmaker="a", line=18.5),
        pair(bookmaker="b", line=19.5),
        pair(bookmaker="c", line=25.5),
        pair(bookmaker="d", line=60.5),  # out of range: not part of the line
    )
    assert judged(rows) == {
        "passed": True,
        "reasons": [],
        "books": 4,
        "usable_books": 3,
        "line": 19.5,
    }


def test_only_the_configured_markets_are_judged() -> None:
    rows = frame(
        books("draftkings", "fanduel"),
        books("draftkings", "fanduel", market="player_rebounds", line=7.5),
    )
    out = line_quality(rows, LineQualityConfig(markets=["player_rebounds"]))
    assert out["market"].to_list() == ["player_rebounds"]
    assert line_quality(rows, LineQualityConfig())["market"].to_list() == [
        "player_points",
        "player_rebounds",
    ]


def test_players_come_out_sorted_by_player_and_market() -> None:
    rows = frame(
        books("draftkings", "fanduel", player_key="zed", market="player_rebounds", line=7.5),
        books("draftkings", "fanduel", player_key="zed"),
        books("draftkings", "fanduel", player_key="abe"),
    )
    out = line_quality(rows, GATE)
    assert out.select("player_key", "market").rows() == [
        ("abe", "player_points"),
        ("zed", "player_points"),
        ("zed", "player_rebounds"),
    ]


_ROWS = frame(
    books("draftkings", "fanduel"),
    books("betmgm", last_update=SNAP - timedelta(hours=5)),
    books("caesars", snapshot_at=SNAP - timedelta(minutes=20), line=60.5),
    books("caesars", line=19.5),
    quote(bookmaker="pointsbet", side="over"),
    quote(bookmaker="wynn", side="over", line=17.5),
    quote(bookmaker="wynn", side="under", line=21.5, player_name="Test Player Jr."),
    books("draftkings", "fanduel", player_key="other", line=4.5),
)


@settings(max_examples=30)
@given(st.permutations(range(_ROWS.height)))
def test_the_verdict_does_not_depend_on_row_order(order: list[int]) -> None:
    expected = line_quality(_ROWS, GATE)
    shuffled = line_quality(_ROWS[order], GATE)
    assert shuffled.to_dicts() == expected.to_dicts()


def test_a_book_quoting_its_sides_at_two_lines_is_one_sided_at_its_freshest() -> None:
    rows = frame(
        pair(bookmaker="fanduel", line=19.5),
        pair(bookmaker="betmgm", line=18.5),
        quote(bookmaker="draftkings", side="over", line=19.5, last_update=SNAP),
        quote(bookmaker="draftkings", side="under", line=18.5),  # updated 5 minutes earlier
    )
    row = judged(rows)
    assert (row["reasons"], row["usable_books"], row["line"]) == ([], 2, 19.0)
    assert judged(rows[::-1]) == row


def test_each_book_is_judged_on_its_own_newest_snapshot() -> None:
    # fanduel's last quote is older than draftkings': still fanduel's newest, still counted
    rows = frame(books("draftkings"), books("fanduel", snapshot_at=SNAP - timedelta(minutes=20)))
    assert judged(rows)["usable_books"] == 2


def test_books_spelling_the_name_differently_show_one_spelling_whatever_the_order() -> None:
    rows = frame(books("draftkings", player_name="Test Player Jr."), books("fanduel"))
    names = {
        line_quality(rows[order], GATE)["player_name"][0] for order in ([0, 1, 2, 3], [3, 2, 1, 0])
    }
    assert len(names) == 1 and names <= {"Test Player", "Test Player Jr."}


def test_one_book_spelling_the_name_two_ways_shows_one_spelling_whatever_the_order() -> None:
    rows = frame(
        quote(side="over", player_name="Test Player Jr."),
        quote(side="under", player_name="Test Player"),
    )
    gate = LineQualityConfig(min_books=1)
    names = {line_quality(rows[order], gate)["player_name"][0] for order in ([0, 1], [1, 0])}
    assert len(names) == 1


def test_the_source_of_a_books_freshest_quote_decides_the_placeholder() -> None:
    older = SNAP - timedelta(minutes=30)
    estimated_fresher = frame(
        books("fanduel", line=20.0),
        quote(bookmaker="draftkings", source="estimated", line=20.0),
        quote(bookmaker="draftkings", side="under", line=20.0, last_update=older),
    )
    assert verdict(estimated_fresher) == (False, ["placeholder"])
    estimated_older = frame(
        books("fanduel", line=20.0),
        quote(bookmaker="draftkings", source="estimated", line=20.0, last_update=older),
        quote(bookmaker="draftkings", side="under", line=20.0),
    )
    assert verdict(estimated_older) == (True, [])
    # a quote without last_update counts as the older one
    undated = frame(
        books("fanduel", line=20.0),
        quote(bookmaker="draftkings", source="estimated", line=20.0),
        quote(bookmaker="draftkings", side="under", line=20.0, last_update=None),
    )
    assert verdict(undated) == (False, ["placeholder"])
