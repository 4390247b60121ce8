"""consensus: the market's fair line and probability, and how much the books agree."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import polars as pl

from lineflow.models.base import book_pairs, consensus_line, no_line


@dataclass(frozen=True)
class Consensus:
    """Fair (no-vig) over/under probabilities per book, combined across books.

    A book is its freshest main over/under pair, counted once however many sources carry it.

    - line: the line most books hang;
    - prob_over: the median fair over-probability of the books at that line;
    - confidence: share of books at that line x (1 - dispersion / max_dispersion), where
      dispersion is the standard deviation of those books' fair over-probabilities.
    """

    name: str = "consensus"
    max_dispersion: float = 0.05

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        pairs = book_pairs(lines)
        if pairs.is_empty():
            return no_line()
        line = consensus_line(pairs)
        at_line = pairs.filter(pl.col("line") == line)
        fair = at_line["fair_over"].to_list()
        prob_over = statistics.median(fair)
        dispersion = statistics.pstdev(fair) if len(fair) > 1 else 0.0
        agreement = max(0.0, 1.0 - dispersion / self.max_dispersion)
        return {
            "line": line,
            "predicted_value": line,
            "prob_over": round(prob_over, 6),
            "prob_under": round(1 - prob_over, 6),
            "confidence": round(at_line.height / pairs.height * agreement, 6),
            "recommendation": "PASS",
            "bookmaker": None,
            "bookmaker_source": None,
            "price_american": None,
            "expected_value": None,
            "books": pairs.height,
            "margin": 0.0,
        }
