"""Odds arithmetic: hand-computed conversions at the edges, and the laws that tie them together."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineflow.core.odds import (
    american_to_decimal,
    american_to_decimal_scalar,
    decimal_to_american,
    implied_probability,
)


def _column(expr_of, values: list, dtype: pl.DataType) -> list:
    frame = pl.DataFrame({"x": values}, schema={"x": dtype})
    return frame.select(expr_of(pl.col("x")).alias("y"))["y"].to_list()


def test_american_to_decimal_by_hand() -> None:
    got = _column(american_to_decimal, [150, -110, 100, -100, -200, 99, -99, 0, None], pl.Int64)
    assert got[:5] == pytest.approx([2.5, 1 + 100 / 110, 2.0, 2.0, 1.5])
    # |price| under 100 is no American price: no decimal, never a number passed through
    assert got[5:] == [None, None, None, None]


def test_decimal_to_american_by_hand() -> None:
    got = _column(decimal_to_american, [2.5, 2.0, 1.5, 1.91, 1 + 100 / 110, 1.0, 0.5], pl.Float64)
    # 1.91 -> -100 / 0.91 = -109.89, rounded (not truncated) to -110
    assert got == [150, 100, -200, -110, -110, None, None]
    frame = pl.DataFrame({"x": [2.5]}).select(decimal_to_american(pl.col("x")))
    assert frame.dtypes == [pl.Int32]


def test_implied_probability_by_hand() -> None:
    got = _column(implied_probability, [2.0, 4.0, 1.25, 1.0, 0.8], pl.Float64)
    assert got[:3] == pytest.approx([0.5, 0.25, 0.8])
    assert got[3:] == [None, None]  # decimal 1.0 pays nothing: no probability


@pytest.mark.parametrize(
    ("american", "decimal"), [(150, 2.5), (100, 2.0), (-100, 2.0), (-200, 1.5), (-110, 1 + 1 / 1.1)]
)
def test_scalar_american_to_decimal(american: int, decimal: float) -> None:
    assert american_to_decimal_scalar(american) == pytest.approx(decimal)


@pytest.mark.parametrize("american", [99, -99, 0, 1, -1])
def test_scalar_rejects_what_is_no_american_price(american: int) -> None:
    with pytest.raises(ValueError, match=f"not an American price: {american}"):
        american_to_decimal_scalar(american)


_american = st.one_of(st.integers(100, 20_000), st.integers(-20_000, -101))


@given(_american)
def test_american_decimal_american_round_trips(american: int) -> None:
    # -100 and +100 are the same price (even money); every other price comes back as itself
    decimal = _column(american_to_decimal, [american], pl.Int64)
    assert _column(decimal_to_american, decimal, pl.Float64) == [american]
    assert decimal[0] == pytest.approx(american_to_decimal_scalar(american))


@given(_american)
def test_implied_probability_is_the_inverse_of_the_decimal(american: int) -> None:
    decimal = american_to_decimal_scalar(american)
    (prob,) = _column(implied_probability, [decimal], pl.Float64)
    assert 0 < prob < 1
    assert prob * decimal == pytest.approx(1.0)
