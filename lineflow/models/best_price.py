"""best_price: the best price per side across books, valued at the consensus probability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from lineflow.models.base import KEYS, main_quotes, one_unit, predictions_frame
from lineflow.models.consensus import consensus_of, fair_at_line, units_of


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
        quotes = main_quotes(lines, KEYS)
        at_line = fair_at_line(quotes)
        # Per player market and side, the best price at the consensus line (ties: the book
        # first by name).
        best = (
            quotes.join(at_line.select(*KEYS, "line"), on=[*KEYS, "line"], how="semi")
            .sort(["price_decimal", "bookmaker"], descending=[True, False])
            .group_by([*KEYS, "side"], maintain_order=True)
            .first()
            .select(*KEYS, "side", "bookmaker", "source", "price_american", "price_decimal")
        )
        prices = {(k, m, side): rest for k, m, side, *rest in best.iter_rows()}
        found = {}
        for unit, consensus in consensus_of(at_line, self.max_dispersion).items():
            sides = []
            for side, prob in (
                ("over", consensus["prob_over"]),
                ("under", consensus["prob_under"]),
            ):
                offer = prices.get((*unit, side))
                if offer is not None:
                    sides.append((prob * offer[3] - 1, side, offer))
            ev, side, (bookmaker, source, american, _) = max(sides, key=lambda s: s[0])
            found[unit] = consensus | {
                "recommendation": side.upper() if ev > self.edge else "PASS",
                "bookmaker": bookmaker,
                "bookmaker_source": source,
                "price_american": american,
                "expected_value": round(ev, 6),
            }
        return predictions_frame(units_of(lines), found)
