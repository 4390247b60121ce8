"""One quote per bookmaker: a book two sources carry counts once, its freshest quote wins and
says which source it came from; over and under pair only at one line. Expectations by hand."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineflow.core.quotes import book_quotes
from lineflow.models import book_pairs
from lineflow.models.base import consensus_line
from lineflow.models.best_price import BestPrice
from lineflow.models.consensus import Consensus
from tests.rules.lines import SNAP, frame, quote

MIN = timedelta(minutes=1)


def side(book: str, side_: str, line: float, american: int, **changes) -> dict:
    decimal = 1 + american / 100 if american > 0 else 1 + 100 / -american
    prices = {"price_american": american, "price_decimal": decimal, "implied_prob": 1 / decimal}
    return quote(**{"bookmaker": book, "side": side_, "line": line, **prices, **changes})


def two_sided(book: str, line: float, over: int, under: int, **changes) -> list[dict]:
    return [side(book, "over", line, over, **changes), side(book, "under", line, under, **changes)]


def test_a_book_two_sources_carry_is_counted_once():
    rows = frame(
        two_sided("draftkings", 18.5, -110, -110, source="odds_api", event_id="oa1"),
        two_sided(
            "draftkings",
            18.5,
            -110,
            -110,
            source="bettingpros",
            event_id="bp1",
            last_update=SNAP - MIN,
        ),
        two_sided("fanduel", 18.5, -105, -115),
    )
    pairs = book_pairs(rows)
    assert pairs["bookmaker"].to_list() == ["draftkings", "fanduel"]
    # bettingpros' copy was updated 1 minute before the snapshot, the Odds API's 5 minutes
    dk = pairs.row(0, named=True)
    assert (dk["source_over"], dk["source_under"]) == ("bettingpros", "bettingpros")
    assert Consensus().predict(rows)["books"] == 2


def test_the_freshest_quote_wins_by_last_update_before_snapshot_and_is_named():
    rows = frame(
        # seen later (snapshot 14:33) but last changed at 14:03 ...
        two_sided("draftkings", 18.5, -110, -110, source="odds_api", last_update=SNAP - 30 * MIN),
        # ... this copy, seen at 14:23, changed at 14:21: it is the book's current price
        two_sided(
            "draftkings",
            18.5,
            120,
            -150,
            source="bettingpros",
            snapshot_at=SNAP - 10 * MIN,
            last_update=SNAP - 12 * MIN,
        ),
        two_sided("fanduel", 18.5, -110, -110),
    )
    p = BestPrice(edge=0.02).predict(rows)
    # fair overs: fanduel 0.5; draftkings 2.2/1.666667 -> 0.454545 / 1.054545 = 0.431034
    # median 0.465517; over at 2.2: 0.465517 * 2.2 - 1 = 0.024138 > 0.02
    assert p["prob_over"] == pytest.approx(0.465517, abs=1e-6)
    assert (p["recommendation"], p["bookmaker"], p["price_american"]) == ("OVER", "draftkings", 120)
    assert p["bookmaker_source"] == "bettingpros"
    assert p["expected_value"] == pytest.approx(0.024138, abs=1e-5)
    assert p["books"] == 2


def test_with_equal_last_update_the_later_snapshot_wins():
    rows = frame(
        two_sided("draftkings", 18.5, -110, -110, snapshot_at=SNAP - 15 * MIN),
        two_sided("draftkings", 18.5, -120, 100),
    )
    quotes = book_quotes(rows)
    assert quotes.select("side", "price_american").rows() == [("over", -120), ("under", 100)]


def test_a_books_newer_quote_replaces_its_older_one():
    rows = frame(
        two_sided(
            "draftkings", 17.5, -110, -110, snapshot_at=SNAP - 25 * MIN, last_update=SNAP - 30 * MIN
        ),
        two_sided("draftkings", 18.5, -110, -110),
    )
    assert book_pairs(rows)["line"].to_list() == [18.5]
    # and in either row order
    assert book_pairs(rows.reverse())["line"].to_list() == [18.5]


def test_over_and_under_at_different_lines_are_not_paired():
    rows = frame(
        side("draftkings", "over", 18.5, -110),  # fresh, 14:28
        side("draftkings", "under", 19.5, -110, last_update=SNAP - 20 * MIN),  # older
    )
    assert book_pairs(rows).is_empty()
    # the stale half is dropped: the book keeps only its freshest line
    assert book_quotes(rows).select("side", "line").rows() == [("over", 18.5)]
    assert Consensus().predict(rows)["recommendation"] == "NO_LINE"


def test_a_one_sided_book_has_no_pair():
    rows = frame(side("draftkings", "over", 18.5, -110), two_sided("fanduel", 18.5, -110, -110))
    assert book_pairs(rows)["bookmaker"].to_list() == ["fanduel"]


def test_an_unpriced_or_alternate_quote_is_not_the_books_quote():
    rows = frame(
        two_sided("draftkings", 18.5, -110, -110, last_update=SNAP - 20 * MIN),
        side("draftkings", "over", 20.5, 150, is_main_line=False),
        side("draftkings", "over", 18.5, -110, price_decimal=None),
        side("draftkings", "under", 18.5, -110, is_main_line=None),
    )
    pairs = book_pairs(rows)
    assert pairs.select("line", "am_over", "am_under").rows() == [(18.5, -110, -110)]


def test_ties_between_lines_go_to_the_lower_line():
    pairs = pl.DataFrame({"line": [19.5, 18.5, 19.5, 18.5]})
    assert consensus_line(pairs) == 18.5
    assert consensus_line(pairs.reverse()) == 18.5
    assert consensus_line(pl.DataFrame({"line": [19.5, 18.5, 19.5]})) == 19.5


ROWS = frame(
    two_sided("draftkings", 18.5, -110, -110, source="odds_api"),
    two_sided("draftkings", 18.5, -115, -105, source="bettingpros"),  # same times: a tie
    two_sided("draftkings", 19.5, -110, -110, source="dk", last_update=SNAP - 9 * MIN),
    two_sided("fanduel", 18.5, -105, -115),
    side("betmgm", "over", 19.5, 100),
)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.permutations(range(ROWS.height)))
def test_the_chosen_quotes_do_not_depend_on_row_order(order):
    shuffled = ROWS[list(order)]
    assert book_quotes(shuffled).equals(book_quotes(ROWS))
    # the tie goes the same way every time: by source name, odds_api after bettingpros
    assert book_quotes(ROWS).filter(pl.col("bookmaker") == "draftkings")[
        "source"
    ].unique().to_list() == ["odds_api"]


def test_each_books_rows_can_say_the_source_of_its_freshest_quote():
    """The gate judges a book's placeholder line by the source of its freshest quote: the
    freshest of its sides, whichever source each side's own freshest quote came from."""
    rows = frame(
        side("draftkings", "over", 18.5, -110, source="odds_api", last_update=SNAP - 9 * MIN),
        side("draftkings", "under", 18.5, -110, source="bettingpros", last_update=SNAP - MIN),
        side("fanduel", "over", 18.5, -110, source="bettingpros", last_update=SNAP - 9 * MIN),
        side("fanduel", "under", 18.5, -110, source="odds_api", last_update=SNAP - MIN),
        side("fanduel", "under", 19.5, -110, source="estimated", last_update=SNAP - 30 * MIN),
    )
    plain = book_quotes(rows)
    led = book_quotes(rows, lead_source="lead")
    assert led.drop("lead").equals(plain)
    assert led.select("bookmaker", "side", "source", "lead").rows() == [
        ("draftkings", "over", "odds_api", "bettingpros"),
        ("draftkings", "under", "bettingpros", "bettingpros"),
        ("fanduel", "over", "bettingpros", "odds_api"),
        ("fanduel", "under", "odds_api", "odds_api"),
    ]
    for order in ([4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        assert book_quotes(rows[order], lead_source="lead").equals(led)
