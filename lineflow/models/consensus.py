"""consensus: the market's fair line and probability, and how much the books agree."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import polars as pl

from lineflow.models.base import KEYS, book_pairs, consensus_lines, one_unit, with_no_line


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
        return with_no_line(lines, fair_prices(lines, self.max_dispersion))


def fair_prices(lines: pl.DataFrame, max_dispersion: float) -> pl.DataFrame:
    """Per player market with at least one book's pair: the consensus fields (KEYS, line,
    predicted_value, prob_over, prob_under, confidence, recommendation PASS, books, margin)."""
    pairs = book_pairs(lines, KEYS)
    lines_hung = consensus_lines(pairs, KEYS)
    books = pairs.group_by(KEYS).agg(books=pl.len())
    at_line = (
        pairs.join(lines_hung, on=[*KEYS, "line"], how="semi")
        .group_by(KEYS)
        .agg(pl.col("line").first(), fair=pl.col("fair_over"))
        .join(books, on=list(KEYS))
        .sort(KEYS)
    )
    # The per-book work above is polars over the whole partition; the few probabilities of
    # each player market are combined with `statistics` (exact sums, 20 us a player market)
    # so that every number is the per-player model's to the last bit (polars' std differs).
    rows = []
    for key, market, line, fair, count in at_line.iter_rows():
        prob_over = statistics.median(fair)
        dispersion = statistics.pstdev(fair) if len(fair) > 1 else 0.0
        agreement = max(0.0, 1.0 - dispersion / max_dispersion)
        rows.append(
            (
                key,
                market,
                line,
                line,
                round(prob_over, 6),
                round(1 - prob_over, 6),
                round(len(fair) / count * agreement, 6),
                count,
            )
        )
    schema = {
        "player_key": pl.String,
        "market": pl.String,
        "line": pl.Float64,
        "predicted_value": pl.Float64,
        "prob_over": pl.Float64,
        "prob_under": pl.Float64,
        "confidence": pl.Float64,
        "books": pl.Int32,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        recommendation=pl.lit("PASS"), margin=pl.lit(0.0)
    )
