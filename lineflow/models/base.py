"""The model protocol, and the per-book view every market model starts from."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import polars as pl

#: What a model returns for one (player, market); the predict stage adds keys and lineage.
PREDICTION_FIELDS = (
    "line",
    "predicted_value",
    "prob_over",
    "prob_under",
    "confidence",
    "recommendation",  # OVER | UNDER | PASS | NO_LINE
    "bookmaker",
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


def book_pairs(lines: pl.DataFrame) -> pl.DataFrame:
    """Each book's latest main over/under pair with its no-vig (fair) probabilities.

    Columns: bookmaker, line, dec_over, dec_under, fair_over, fair_under. The vig is removed
    by normalising the two implied probabilities to sum to 1.
    """
    latest = (
        lines.filter(pl.col("is_main_line") & pl.col("price_decimal").is_not_null())
        .sort("snapshot_at")
        .group_by("bookmaker", "side", maintain_order=True)
        .last()
    )
    over = latest.filter(pl.col("side") == "over").select(
        "bookmaker", "line", dec_over=pl.col("price_decimal"), am_over=pl.col("price_american")
    )
    under = latest.filter(pl.col("side") == "under").select(
        "bookmaker", "line", dec_under=pl.col("price_decimal"), am_under=pl.col("price_american")
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
