"""consensus: the market's fair line and probability, and how much the books agree."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import polars as pl

from lineflow.models.base import (
    KEYS,
    consensus_lines,
    main_quotes,
    one_unit,
    pairs_of,
    population_stdev,
    predictions_frame,
)


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
        return one_unit(self, lines)

    def predict_partition(self, lines: pl.DataFrame) -> pl.DataFrame:
        fair = fair_at_line(main_quotes(lines, KEYS))
        return predictions_frame(units_of(lines), consensus_of(fair, self.max_dispersion))


def units_of(lines: pl.DataFrame) -> pl.DataFrame:
    """The player markets (KEYS) of `lines`."""
    return lines.select(KEYS).unique()


def fair_at_line(quotes: pl.DataFrame) -> pl.DataFrame:
    """From `main_quotes(lines, KEYS)`, per player market with at least one book's pair:
    KEYS, the consensus line, `fair` (the fair over-probabilities of the books at that line)
    and `books` (books with a pair)."""
    pairs = pairs_of(quotes, KEYS)
    books = pairs.group_by(KEYS).agg(books=pl.len())
    return (
        pairs.join(consensus_lines(pairs, KEYS), on=[*KEYS, "line"], how="semi")
        .group_by(KEYS)
        .agg(pl.col("line").first(), fair=pl.col("fair_over"))
        .join(books, on=list(KEYS))
    )


def consensus_of(
    fair: pl.DataFrame, max_dispersion: float
) -> dict[tuple[str, str], dict[str, Any]]:
    """The consensus prediction of each player market of `fair` (`fair_at_line`'s rows).

    The few probabilities of a player market are combined exactly as the per-player model
    did (`statistics.median`, and `statistics.pstdev`'s exact sums), so every number is the
    same to the last bit; polars' standard deviation can differ in the last place."""
    found = {}
    for key, market, line, probabilities, books in fair.iter_rows():
        prob_over = statistics.median(probabilities)
        dispersion = population_stdev(probabilities) if len(probabilities) > 1 else 0.0
        agreement = max(0.0, 1.0 - dispersion / max_dispersion)
        found[(key, market)] = {
            "line": line,
            "predicted_value": line,
            "prob_over": round(prob_over, 6),
            "prob_under": round(1 - prob_over, 6),
            "confidence": round(len(probabilities) / books * agreement, 6),
            "recommendation": "PASS",
            "bookmaker": None,
            "bookmaker_source": None,
            "price_american": None,
            "expected_value": None,
            "books": books,
            "margin": 0.0,
        }
    return found
