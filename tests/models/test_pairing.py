"""Pairing each book's over and under, and what the models make of the pairs: by hand.

Prices are American; decimals follow (-110 -> 1.909091, +100 -> 2.0, -120 -> 1.833333).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineflow.models.base import (
    PREDICTION_FIELDS,
    book_pairs,
    consensus_line,
    load_model,
    no_line,
)
from lineflow.models.best_price import BestPrice
from lineflow.models.consensus import Consensus

T = datetime(2026, 1, 23, 14, 8, tzinfo=UTC)


def _decimal(american: int | None) -> float | None:
    if american is None:
        return None
    return 1 + american / 100 if american > 0 else 1 + 100 / -american


def quote(
    book: str, side: str, line: float, american: int | None, *, at: datetime = T, main: bool = True
) -> dict[str, Any]:
    return {
        "bookmaker": book,
        "side": side,
        "line": line,
        "price_american": american,
        "price_decimal": _decimal(american),
        "is_main_line": main,
        "snapshot_at": at,
        "last_update": at,
        "source": "odds_api",
    }


def board(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows))


def both(book: str, line: float, over: int, under: int, **kw: Any) -> list[dict[str, Any]]:
    return [quote(book, "over", line, over, **kw), quote(book, "under", line, under, **kw)]


def test_a_pair_is_each_books_latest_quote_of_both_sides() -> None:
    earlier = T - timedelta(hours=1)
    # the newer quote comes first in the frame: "latest" is by snapshot, not by row order
    lines = board(*both("dk", 24.5, -110, -110), *both("dk", 24.5, -150, 130, at=earlier))
    pairs = book_pairs(lines)
    assert pairs.select("bookmaker", "line", "dec_over", "dec_under").rows() == [
        ("dk", 24.5, pytest.approx(1.909091, abs=1e-6), pytest.approx(1.909091, abs=1e-6))
    ]
    assert pairs.row(0, named=True)["fair_over"] == pytest.approx(0.5)


def test_a_quote_without_a_price_does_not_hide_the_last_priced_one() -> None:
    earlier = T - timedelta(hours=1)
    lines = board(*both("dk", 24.5, 100, -120, at=earlier), quote("dk", "over", 24.5, None))
    row = book_pairs(lines).row(0, named=True)
    # +100 / -120: implied 0.5 and 0.545455; fair over = 0.5 / 1.045455 = 0.478261
    assert (row["dec_over"], row["fair_over"]) == (2.0, pytest.approx(0.478261, abs=1e-6))
    assert row["fair_under"] == pytest.approx(0.521739, abs=1e-6)


def test_over_and_under_at_different_lines_are_no_pair() -> None:
    lines = board(quote("dk", "over", 24.5, -110), quote("dk", "under", 25.5, -110))
    assert book_pairs(lines).is_empty()


def test_a_one_sided_book_and_alternate_lines_are_no_pair() -> None:
    lines = board(
        quote("dk", "over", 24.5, -110),
        *both("fd", 30.5, 150, -190, main=False),
        *both("mgm", 24.5, -105, -115),
    )
    assert book_pairs(lines)["bookmaker"].to_list() == ["mgm"]


def test_pairs_come_sorted_by_bookmaker_with_their_prices() -> None:
    lines = board(*both("zz", 24.5, -110, -110), *both("aa", 24.5, 120, -150))
    pairs = book_pairs(lines)
    assert pairs["bookmaker"].to_list() == ["aa", "zz"]
    assert pairs.row(0, named=True)["am_over"] == 120
    assert pairs.row(0, named=True)["am_under"] == -150
    assert pairs.row(0, named=True)["dec_under"] == pytest.approx(1 + 100 / 150)


_price = st.one_of(st.integers(100, 2000), st.integers(-2000, -100))


@given(_price, _price)
def test_fair_probabilities_of_a_pair_sum_to_one(over: int, under: int) -> None:
    row = book_pairs(board(*both("dk", 24.5, over, under))).row(0, named=True)
    assert row["fair_over"] + row["fair_under"] == pytest.approx(1.0)
    implied_over, implied_under = 1 / _decimal(over), 1 / _decimal(under)
    assert row["fair_over"] == pytest.approx(implied_over / (implied_over + implied_under))


def test_the_consensus_line_is_the_most_hung_and_ties_go_to_the_lower() -> None:
    two_each = pl.DataFrame({"line": [25.5, 24.5, 25.5, 24.5]})
    assert consensus_line(two_each) == 24.5
    three_to_one = pl.DataFrame({"line": [24.5, 25.5, 25.5, 25.5]})
    assert consensus_line(three_to_one) == 25.5


def test_no_line_fills_every_field() -> None:
    out = no_line()
    assert set(out) == set(PREDICTION_FIELDS)
    assert (out["recommendation"], out["books"], out["line"], out["prob_over"]) == (
        "NO_LINE",
        0,
        None,
        None,
    )


def test_consensus_counts_every_book_but_judges_at_the_line() -> None:
    lines = board(
        *both("dk", 24.5, -110, -110),  # fair over 0.5
        *both("fd", 24.5, 100, -120),  # fair over 0.478261
        *both("mgm", 25.5, 150, -190),  # another line: not in the median
    )
    p = Consensus().predict(lines)
    # median of (0.5, 0.478261) = 0.489130; pstdev = 0.010870; agreement 1 - 0.010870/0.05
    assert (p["line"], p["predicted_value"], p["books"]) == (24.5, 24.5, 3)
    assert p["prob_over"] == pytest.approx(0.489130, abs=1e-6)
    assert p["prob_under"] == pytest.approx(0.510870, abs=1e-6)
    assert p["confidence"] == pytest.approx(2 / 3 * (1 - 0.010870 / 0.05), abs=1e-5)
    assert (p["margin"], p["bookmaker"], p["price_american"]) == (0.0, None, None)


def test_one_book_has_full_agreement_and_wild_books_none() -> None:
    one = Consensus().predict(board(*both("dk", 24.5, -110, -110)))
    assert (one["confidence"], one["prob_over"]) == (1.0, 0.5)
    apart = board(*both("dk", 24.5, -300, 240), *both("fd", 24.5, 240, -300))
    assert Consensus(max_dispersion=0.05).predict(apart)["confidence"] == 0.0


def test_best_price_takes_the_best_latest_price_per_side_at_the_line() -> None:
    earlier = T - timedelta(hours=1)
    lines = board(
        *both("dk", 24.5, -110, -110),
        *both("fd", 24.5, -110, -110),
        quote("fd", "under", 24.5, 200, at=earlier),  # fd's old under: replaced by -110
        *both("mgm", 25.5, 300, -400),  # other line: not offered at 24.5
        quote("bov", "under", 24.5, 105),  # a one-sided under: still an offer at the line
        quote("wynn", "under", 24.5, None),  # no price: no offer
    )
    p = BestPrice(edge=0.02).predict(lines)
    # fair 0.5 / 0.5 at 24.5 (dk, fd); best under bov +105 (2.05): 0.5 * 2.05 - 1 = 0.025
    assert (p["line"], p["recommendation"], p["bookmaker"], p["price_american"]) == (
        24.5,
        "UNDER",
        "bov",
        105,
    )
    assert p["expected_value"] == pytest.approx(0.025)


def test_best_price_needs_more_than_the_edge() -> None:
    lines = board(*both("dk", 24.5, -110, -110), quote("bov", "under", 24.5, 105))
    # EV 0.025: over an edge of 0.02, not over an edge of 0.025
    assert BestPrice(edge=0.02).predict(lines)["recommendation"] == "UNDER"
    assert BestPrice(edge=0.025).predict(lines)["recommendation"] == "PASS"
    assert BestPrice(edge=0.03).predict(lines)["expected_value"] == pytest.approx(0.025)


def test_best_price_ties_go_to_the_first_bookmaker_by_name() -> None:
    lines = board(*both("zz", 24.5, -105, -115), *both("aa", 24.5, -105, -115))
    p = BestPrice().predict(lines)
    assert p["bookmaker"] == "aa"


def test_best_price_uses_the_models_dispersion_setting() -> None:
    lines = board(*both("dk", 24.5, -110, -110), *both("fd", 24.5, 100, -120))
    loose = BestPrice(max_dispersion=1.0).predict(lines)
    # pstdev 0.010870 against 1.0: confidence 1 - 0.010870 = 0.98913
    assert loose["confidence"] == pytest.approx(0.98913, abs=1e-5)


def test_best_price_without_a_pair_has_no_line() -> None:
    lines = board(quote("dk", "over", 24.5, -110))
    assert BestPrice().predict(lines) == no_line()


def test_predictions_are_rounded_to_six_places() -> None:
    lines = board(
        *both("dk", 24.5, -110, -110),
        *both("fd", 24.5, 100, -120),
        *both("mgm", 25.5, 150, -190),
        quote("bov", "over", 24.5, 105),
    )
    p = BestPrice(edge=0.5).predict(lines)
    # median fair over 0.48913043 -> 0.48913; confidence 2/3 x (1 - 0.0108696/0.05) = 0.5217391
    assert (p["prob_over"], p["prob_under"], p["confidence"]) == (0.48913, 0.51087, 0.521739)
    # best over: bov +105 (2.05): 0.48913 x 2.05 - 1 = 0.0027165 -> 0.002717
    assert (p["bookmaker"], p["expected_value"], p["recommendation"]) == ("bov", 0.002717, "PASS")


def test_an_ev_of_exactly_the_edge_is_no_edge() -> None:
    lines = board(*both("dk", 24.5, -110, -110), quote("bov", "under", 24.5, 150))
    # fair under 0.5 x 2.5 - 1 = 0.25, exactly
    assert BestPrice(edge=0.25).predict(lines)["recommendation"] == "PASS"
    assert BestPrice(edge=0.2499).predict(lines)["recommendation"] == "UNDER"


def test_model_defaults() -> None:
    lines = board(*both("dk", 24.5, -110, -110), *both("fd", 24.5, 100, -120))
    lines = pl.concat([lines, board(quote("bov", "under", 24.5, 105))])
    assert (Consensus().name, BestPrice().name) == ("consensus", "best_price")
    # default edge 0.02: EV 0.51087 x 2.05 - 1 = 0.047284 recommends the under
    assert BestPrice().predict(lines)["recommendation"] == "UNDER"
    # default max_dispersion 0.05, as the consensus: 1 - 0.0108696 / 0.05 = 0.782609
    assert BestPrice().predict(lines)["confidence"] == Consensus().predict(lines)["confidence"]
    assert Consensus().predict(lines)["confidence"] == 0.782609


def test_every_model_returns_exactly_the_prediction_fields() -> None:
    lines = board(*both("dk", 24.5, -110, -110))
    for model in (Consensus(), BestPrice()):
        assert tuple(model.predict(lines)) == PREDICTION_FIELDS
    assert tuple(no_line()) == PREDICTION_FIELDS


def test_a_model_loads_from_its_import_path_with_parameters() -> None:
    model = load_model("lineflow.models.consensus:Consensus", "fair", {"max_dispersion": 0.1})
    assert isinstance(model, Consensus)
    assert (model.name, model.max_dispersion) == ("fair", 0.1)


def test_a_quote_without_a_main_line_flag_is_not_a_main_line() -> None:
    unflagged = [{**q, "is_main_line": None} for q in both("dk", 24.5, -110, -110)]
    lines = board(*unflagged, *both("fd", 24.5, 100, -120))
    assert book_pairs(lines)["bookmaker"].to_list() == ["fd"]
