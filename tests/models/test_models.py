"""The built-in models against numbers computed by hand (docs/predictions.md shows the working)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from lineflow.core.odds import american_to_decimal
from lineflow.models import book_pairs, load_model
from lineflow.models.best_price import BestPrice
from lineflow.models.consensus import Consensus

T = datetime(2026, 1, 23, 14, 8, tzinfo=UTC)


def board(*books: tuple[str, float, int, int], main: bool = True) -> pl.DataFrame:
    rows = []
    for book, line, over, under in books:
        rows += [
            {"bookmaker": book, "line": line, "side": "over", "price_american": over},
            {"bookmaker": book, "line": line, "side": "under", "price_american": under},
        ]
    return pl.DataFrame(rows).with_columns(
        price_decimal=american_to_decimal(pl.col("price_american")),
        is_main_line=pl.lit(main),
        snapshot_at=pl.lit(T),
        last_update=pl.lit(T),
        source=pl.lit("odds_api"),
    )


THREE = board(
    ("draftkings", 24.5, -110, -110), ("fanduel", 24.5, -105, -115), ("betmgm", 24.5, 100, -120)
)


def test_vig_is_removed_per_book():
    pairs = {r["bookmaker"]: r for r in book_pairs(THREE).iter_rows(named=True)}
    assert pairs["draftkings"]["fair_over"] == pytest.approx(0.5)
    # FanDuel -105/-115: 0.512195 / (0.512195 + 0.534884) = 0.489165
    assert pairs["fanduel"]["fair_over"] == pytest.approx(0.489165, abs=1e-6)
    # BetMGM +100/-120: 0.5 / (0.5 + 0.545455) = 0.478261
    assert pairs["betmgm"]["fair_over"] == pytest.approx(0.478261, abs=1e-6)


def test_consensus_is_the_median_fair_probability_at_the_common_line():
    p = Consensus().predict(THREE)
    assert p["line"] == 24.5 and p["books"] == 3
    assert p["prob_over"] == pytest.approx(0.489165, abs=1e-6)
    assert p["prob_under"] == pytest.approx(0.510835, abs=2e-6)
    # dispersion = pstdev(0.5, 0.489165, 0.478261) = 0.008875; confidence = 1 - 0.008875/0.05
    assert p["confidence"] == pytest.approx(0.822498, abs=1e-5)
    assert p["recommendation"] == "PASS"


def test_the_line_most_books_hang_wins_and_outliers_cut_confidence():
    four = pl.concat([THREE, board(("bovada", 25.5, -110, -110))])
    p = Consensus().predict(four)
    assert p["line"] == 24.5 and p["books"] == 4
    assert p["confidence"] == pytest.approx(0.75 * 0.822498, abs=1e-5)


def test_best_price_passes_when_no_side_beats_the_vig():
    p = BestPrice().predict(THREE)
    # Best over: BetMGM 2.0 -> 0.489165 * 2.0 - 1 = -0.021670.
    # Best under: DraftKings 1.909091 -> 0.510835 * 1.909091 - 1 = -0.024770.
    assert p["recommendation"] == "PASS"
    assert p["bookmaker"] == "betmgm" and p["expected_value"] == pytest.approx(-0.02167, abs=1e-5)


def test_best_price_recommends_a_side_with_an_edge():
    four = pl.concat([THREE, board(("caesars", 24.5, 120, -150))])
    p = BestPrice(edge=0.02).predict(four)
    # Fair overs 0.5, 0.489165, 0.478261, 0.431034 -> median 0.483713;
    # Caesars +120 (2.2): 0.483713 * 2.2 - 1 = 0.064169 > 0.02.
    assert p["prob_over"] == pytest.approx(0.483713, abs=1e-6)
    assert (p["recommendation"], p["bookmaker"], p["price_american"]) == ("OVER", "caesars", 120)
    assert p["expected_value"] == pytest.approx(0.064169, abs=1e-5)


def test_no_valid_line_means_no_line():
    alt_only = board(("draftkings", 30.5, 150, -190), main=False)
    for model in (Consensus(), BestPrice()):
        p = model.predict(alt_only)
        assert p["recommendation"] == "NO_LINE" and p["line"] is None


def test_models_load_from_an_import_path_with_parameters():
    model = load_model("lineflow.models.best_price:BestPrice", "bp", {"edge": 0.05})
    assert (model.name, model.edge) == ("bp", 0.05)
