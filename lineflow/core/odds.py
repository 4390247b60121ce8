"""Odds arithmetic: American and decimal prices, implied probabilities.

Polars expressions so parsers and rules convert whole columns at once.
"""

from __future__ import annotations

import polars as pl


def american_to_decimal(american: pl.Expr) -> pl.Expr:
    a = american.cast(pl.Float64)
    return pl.when(a >= 100).then(1 + a / 100).when(a <= -100).then(1 + 100 / (-a)).otherwise(None)


def decimal_to_american(decimal: pl.Expr) -> pl.Expr:
    """The American price of a decimal one; null past Int32 (a decimal of 1e300 or
    1.0000000001 has no American price to store)."""
    d = decimal.cast(pl.Float64)
    american = (
        pl.when(d >= 2.0).then((d - 1) * 100).when(d > 1.0).then(-100 / (d - 1)).otherwise(None)
    )
    return american.round(0).cast(pl.Int32, strict=False)


def implied_probability(decimal: pl.Expr) -> pl.Expr:
    d = decimal.cast(pl.Float64)
    return pl.when(d > 1.0).then(1 / d).otherwise(None)


def american_to_decimal_scalar(american: int) -> float:
    if american >= 100:
        return 1 + american / 100
    if american <= -100:
        return 1 + 100 / (-american)
    raise ValueError(f"not an American price: {american}")
