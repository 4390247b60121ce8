"""`with_main_line` picks, per group, the line it picked when it sorted each group: the
definition (both sides quoted first, then closest to even, ties to the lower line) written as
that sort is the oracle, and random ladders (one-sided lines, missing probabilities, repeated
and NaN lines, mirror-image prices) must get the same flags from both."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from lineflow.core.odds import american_to_decimal_scalar
from lineflow.sources.base import with_main_line

GROUP = ("player", "market")


def sorted_main_line(rows: pl.LazyFrame, group: tuple[str, ...]) -> pl.LazyFrame:
    """The definition, as the parsers computed it before: each group sorted."""
    keys = list(group)
    prob, side = pl.col("implied_prob"), pl.col("side")
    ranked = rows.with_columns(
        _p_over=prob.filter(side == "over").first().over([*keys, "line"]),
        _p_under=prob.filter(side == "under").first().over([*keys, "line"]),
    ).with_columns(
        _one_sided=pl.col("_p_over").is_null() | pl.col("_p_under").is_null(),
        _distance=pl.when(pl.col("_p_over").is_not_null() & pl.col("_p_under").is_not_null())
        .then((pl.col("_p_over") - pl.col("_p_under")).abs())
        .otherwise((2 * prob - 1).abs())
        .round(9),
    )
    main = pl.col("line").sort_by(["_one_sided", "_distance", "line"], nulls_last=True)
    return ranked.with_columns(is_main_line=pl.col("line") == main.first().over(keys)).drop(
        "_p_over", "_p_under", "_one_sided", "_distance"
    )


#: Probabilities as price_columns makes them: 1/decimal of American prices (mirror images
#: among them), decimal prices, the edges (a huge price's ~0) and none.
PROBS = st.one_of(
    st.sampled_from([-120, -110, 100, 110, 120, -105, 105, 250, -250, 10**12]).map(
        lambda american: 1 / american_to_decimal_scalar(american)
    ),
    st.floats(min_value=1.0001, max_value=1000).map(lambda decimal: 1 / decimal),
    st.just(0.0),
    st.none(),
)
ROWS = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2"]),
        st.sampled_from(["points", "assists"]),
        st.sampled_from(["over", "under", "yes"]),
        st.sampled_from([0.5, 1.5, 2.5, 10.0, -0.0, 0.0, float("nan"), float("inf")]),
        PROBS,
    ),
    max_size=14,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(ROWS)
def test_the_main_line_is_the_one_the_sorted_definition_picks(rows):
    frame = pl.LazyFrame(
        rows,
        schema={
            "player": pl.String,
            "market": pl.String,
            "side": pl.String,
            "line": pl.Float64,
            "implied_prob": pl.Float64,
        },
        orient="row",
    )
    expected = sorted_main_line(frame, GROUP).collect()
    assert with_main_line(frame, GROUP).collect().equals(expected)


def test_mirror_image_pairs_tie_and_the_lower_line_wins():
    plus, minus = 1 / american_to_decimal_scalar(100), 1 / american_to_decimal_scalar(-120)
    frame = pl.LazyFrame(
        {
            "player": ["p"] * 5,
            "market": ["m"] * 5,
            "side": ["over", "under", "over", "under", "over"],
            "line": [20.5, 20.5, 19.5, 19.5, 18.5],
            "implied_prob": [minus, plus, plus, minus, 0.5],
        }
    )
    flags = with_main_line(frame, GROUP).collect()["is_main_line"].to_list()
    assert flags == [False, False, True, True, False], "19.5 and 20.5 tie; a one-sided 18.5 loses"
