"""best_price: the best price per side across books, valued at the consensus probability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from lineflow.models.base import main_quotes, no_line
from lineflow.models.consensus import Consensus


@dataclass(frozen=True)
class BestPrice:
    """Per side, the best available price at the consensus line and its expected value.

    Each book offers its freshest main-line quote per side (one quote per bookmaker, whichever
    source carried it); `bookmaker_source` names the source of the price recommended.

    EV per unit staked = fair probability x decimal price - 1. The side with the larger EV is
    recommended when it exceeds `edge`; otherwise PASS; NO_LINE when no book has a valid pair.
    """

    name: str = "best_price"
    edge: float = 0.02
    max_dispersion: float = 0.05

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        fair = Consensus(max_dispersion=self.max_dispersion).predict(lines)
        if fair["recommendation"] == "NO_LINE":
            return no_line()
        line = fair["line"]
        latest = main_quotes(lines).filter(pl.col("line") == line)
        sides = []
        for side, prob in (("over", fair["prob_over"]), ("under", fair["prob_under"])):
            offers = latest.filter(pl.col("side") == side).sort(
                ["price_decimal", "bookmaker"], descending=[True, False]
            )
            if offers.is_empty():
                continue
            best = offers.row(0, named=True)
            ev = prob * best["price_decimal"] - 1
            sides.append((ev, side, best))
        ev, side, best = max(sides, key=lambda s: s[0])
        recommend = side.upper() if ev > self.edge else "PASS"
        return fair | {
            "recommendation": recommend,
            "bookmaker": best["bookmaker"],
            "bookmaker_source": best["source"],
            "price_american": best["price_american"],
            "expected_value": round(ev, 6),
        }
