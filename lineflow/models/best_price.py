"""best_price: the best price per side across books, valued at the consensus probability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from lineflow.models.base import KEYS, main_quotes, one_unit, rounded, with_no_line
from lineflow.models.consensus import fair_prices


@dataclass(frozen=True)
class BestPrice:
    """Per side, the best available price at the consensus line and its expected value.

    Each book offers its freshest main-line quote per side (one quote per bookmaker, whichever
    source carried it); `bookmaker_source` names the source of the price recommended.

    EV per unit staked = fair probability x decimal price - 1. The side with the larger EV is
    recommended when it exceeds `edge` (a tie goes to the over); otherwise PASS; NO_LINE when
    no book has a valid pair.
    """

    name: str = "best_price"
    edge: float = 0.02
    max_dispersion: float = 0.05

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        return one_unit(self, lines)

    def predict_partition(self, lines: pl.DataFrame) -> pl.DataFrame:
        fair = fair_prices(lines, self.max_dispersion)
        offers = main_quotes(lines, KEYS).join(
            fair.select(*KEYS, "line", "prob_over", "prob_under"), on=[*KEYS, "line"]
        )
        prob = pl.when(pl.col("side") == "over").then("prob_over").otherwise("prob_under")
        best = (
            offers.sort(["price_decimal", "bookmaker"], descending=[True, False])
            .group_by([*KEYS, "side"], maintain_order=True)
            .first()
            .with_columns(ev=prob * pl.col("price_decimal") - 1)
            .sort(["ev", "side"], descending=[True, False])
            .group_by(KEYS, maintain_order=True)
            .first()
        )
        chosen = best.select(
            *KEYS,
            recommendation=pl.when(pl.col("ev") > self.edge)
            .then(pl.col("side").str.to_uppercase())
            .otherwise(pl.lit("PASS")),
            bookmaker="bookmaker",
            bookmaker_source="source",
            price_american="price_american",
            expected_value=rounded(best["ev"]),
        )
        return with_no_line(
            lines, fair.drop("recommendation").join(chosen, on=list(KEYS), how="inner")
        )
