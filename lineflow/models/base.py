"""The model protocol, and the per-book view every market model starts from."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import polars as pl

from lineflow.core.quotes import book_quotes

#: What a model returns for one (player, market); the predict stage adds keys and lineage.
PREDICTION_FIELDS = (
    "line",
    "predicted_value",
    "prob_over",
    "prob_under",
    "confidence",
    "recommendation",  # OVER | UNDER | PASS | NO_LINE
    "bookmaker",
    "bookmaker_source",  # the source whose quote of `bookmaker` gave `price_american`
    "price_american",
    "expected_value",
    "books",
    "margin",
)


class Model(Protocol):
    name: str

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        """One prediction for one player and market from that partition's validated lines."""
        ...


def load_model(path: str, name: str, params: dict[str, Any]) -> Model:
    """`lineflow.models.consensus:Consensus` plus YAML parameters -> a model instance."""
    module_name, _, attr = path.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    model: Model = factory(name=name, **params)
    return model


def main_quotes(lines: pl.DataFrame) -> pl.DataFrame:
    """Each book's freshest priced main-line quote per side, whichever source carried it
    (`lineflow.core.quotes`): a book counts once however many sources quote it."""
    priced = lines.filter(
        pl.col("is_main_line").fill_null(False) & pl.col("price_decimal").is_not_null()
    )
    return book_quotes(priced)


def book_pairs(lines: pl.DataFrame) -> pl.DataFrame:
    """Each book's freshest main over/under pair with its no-vig (fair) probabilities.

    Columns: bookmaker, line, dec_over, am_over, source_over, dec_under, am_under,
    source_under, fair_over, fair_under. The vig is removed by normalising the two implied
    probabilities to sum to 1. A book quoting one side only has no pair.
    """
    latest = main_quotes(lines)
    over = latest.filter(pl.col("side") == "over").select(
        "bookmaker",
        "line",
        dec_over=pl.col("price_decimal"),
        am_over=pl.col("price_american"),
        source_over=pl.col("source"),
    )
    under = latest.filter(pl.col("side") == "under").select(
        "bookmaker",
        "line",
        dec_under=pl.col("price_decimal"),
        am_under=pl.col("price_american"),
        source_under=pl.col("source"),
    )
    pairs = over.join(under, on=["bookmaker", "line"], how="inner")
    total = 1 / pl.col("dec_over") + 1 / pl.col("dec_under")
    return pairs.with_columns(
        fair_over=(1 / pl.col("dec_over")) / total,
        fair_under=(1 / pl.col("dec_under")) / total,
    ).sort("bookmaker")


def consensus_line(pairs: pl.DataFrame) -> float:
    """The line most books hang (ties: the lower line)."""
    counts = pairs.group_by("line").len().sort(["len", "line"], descending=[True, False])
    return float(counts["line"][0])


def no_line() -> dict[str, Any]:
    return {field: None for field in PREDICTION_FIELDS} | {"recommendation": "NO_LINE", "books": 0}
