"""One pass over a partition predicts what a pass per player market predicted, to the last bit.

`tests/models/per_player.py` is the built-in models as they were, one player market at a time;
random partitions (several players and markets, books quoted by several sources at several
snapshots, alternate lines, prices and flags missing, ties in freshness) must give the same
row for every player market.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from lineflow.models.base import KEYS, PREDICTION_FIELDS, no_line, population_stdev
from lineflow.models.best_price import BestPrice
from lineflow.models.consensus import Consensus
from tests.models import per_player

T = datetime(2026, 1, 23, 14, 0, tzinfo=UTC)
PRICES = (-150, -120, -115, -110, -105, 100, 105, 120, 150)

quote = st.fixed_dictionaries(
    {
        "player_key": st.sampled_from(["ava", "ben", "cy"]),
        "market": st.sampled_from(["player_points", "player_rebounds"]),
        "bookmaker": st.sampled_from(["dk", "fd", "mgm", "czr", "bov"]),
        "side": st.sampled_from(["over", "under"]),
        "line": st.sampled_from([23.5, 24.5, 25.5]),
        "price_american": st.one_of(st.none(), st.sampled_from(PRICES)),
        "is_main_line": st.sampled_from([True, True, True, False, None]),
        "snapshot_at": st.sampled_from([T, T + timedelta(hours=1)]),
        "last_update": st.one_of(st.none(), st.sampled_from([T, T + timedelta(minutes=30)])),
        "source": st.sampled_from(["odds_api", "bettingpros"]),
    }
)


@st.composite
def pair(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A book's over and under at one line, seen together (most quotes come so)."""
    seen = draw(quote)
    over, under = draw(st.sampled_from(PRICES)), draw(st.sampled_from(PRICES))
    line = draw(st.sampled_from([24.5, 25.5]))
    return [
        seen | {"side": "over", "price_american": over, "line": line},
        seen | {"side": "under", "price_american": under, "line": line},
    ]


#: Pairs, with loose quotes among them: several books at one line for most player markets.
partition = (
    st.tuples(st.lists(pair(), max_size=30), st.lists(quote, max_size=20))
    .map(lambda parts: [row for rows in parts[0] for row in rows] + parts[1])
    .filter(bool)
)


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    american = pl.col("price_american").cast(pl.Float64)
    return pl.DataFrame(
        rows,
        schema={
            "player_key": pl.String,
            "market": pl.String,
            "bookmaker": pl.String,
            "side": pl.String,
            "line": pl.Float64,
            "price_american": pl.Int32,
            "is_main_line": pl.Boolean,
            "snapshot_at": pl.Datetime("us", "UTC"),
            "last_update": pl.Datetime("us", "UTC"),
            "source": pl.String,
        },
    ).with_columns(
        price_decimal=pl.when(american > 0).then(1 + american / 100).otherwise(1 + 100 / -american)
    )


def per_unit(lines: pl.DataFrame, predict: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        key: predict(unit) for key, unit in lines.partition_by(list(KEYS), as_dict=True).items()
    }


def by_unit(found: pl.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["player_key"], r["market"]): {f: r[f] for f in PREDICTION_FIELDS}
        for r in found.iter_rows(named=True)
    }


@settings(max_examples=300, deadline=None)
@given(partition, st.sampled_from([0.01, 0.05, 1.0]))
def test_consensus_over_a_partition_is_the_per_player_consensus(rows, max_dispersion) -> None:
    lines = frame(rows)
    found = Consensus(max_dispersion=max_dispersion).predict_partition(lines)
    assert found.height == lines.select(KEYS).n_unique()
    assert by_unit(found) == per_unit(lines, lambda u: per_player.consensus(u, max_dispersion))


@settings(max_examples=300, deadline=None)
@given(partition, st.sampled_from([-1.0, 0.0, 0.02, 0.1]))
def test_best_price_over_a_partition_is_the_per_player_best_price(rows, edge) -> None:
    lines = frame(rows)
    found = BestPrice(edge=edge).predict_partition(lines)
    assert found.height == lines.select(KEYS).n_unique()
    assert by_unit(found) == per_unit(lines, lambda u: per_player.best_price(u, edge))


def test_a_player_market_without_a_pair_is_no_line_in_the_partition_pass() -> None:
    lines = frame(
        [
            {"player_key": "ava", "market": "player_points", "bookmaker": "dk", "side": "over",
             "line": 24.5, "price_american": -110, "is_main_line": True, "snapshot_at": T,
             "last_update": T, "source": "odds_api"},
        ]
    )  # fmt: skip
    for model in (Consensus(), BestPrice()):
        (row,) = model.predict_partition(lines).iter_rows(named=True)
        assert {f: row[f] for f in PREDICTION_FIELDS} == no_line()
        assert model.predict(lines) == no_line()
    empty = lines.clear()
    assert Consensus().predict_partition(empty).is_empty()
    assert Consensus().predict(empty) == no_line()


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(0, 1, allow_subnormal=False),
            st.floats(-1e6, 1e6, allow_nan=False),
            st.sampled_from([0.5, 0.4891650, 1 / 3, 2 / 3, 0.1, 1e-300, 5e-324]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_population_stdev_is_statistics_pstdev_to_the_last_bit(values) -> None:
    assert population_stdev(values) == statistics.pstdev(values)
