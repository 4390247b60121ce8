"""The model protocol, and the per-book view every market model starts from.

A model predicts one (player, market) from its lines (`Model.predict`). A model that can also
predict every player market of a partition at once (`PartitionModel.predict_partition`) lets
the predict stage make one pass per partition instead of one per player: on a season's
partition (86 player markets, 13k lines) the built-in models' polars calls per player took
0.6 s, one pass over the partition takes a few milliseconds. The built-in models are written
once, over a partition; their `predict` is that pass over one player market's lines.
"""

from __future__ import annotations

import importlib
import math
import sys
from typing import Any, Protocol, runtime_checkable

import polars as pl

from lineflow.core.quotes import Frame, book_quotes

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

#: The column types of `PREDICTION_FIELDS`, as the predictions table stores them.
PREDICTION_TYPES: dict[str, type[pl.DataType]] = {
    "line": pl.Float64,
    "predicted_value": pl.Float64,
    "prob_over": pl.Float64,
    "prob_under": pl.Float64,
    "confidence": pl.Float64,
    "recommendation": pl.String,
    "bookmaker": pl.String,
    "bookmaker_source": pl.String,
    "price_american": pl.Int32,
    "expected_value": pl.Float64,
    "books": pl.Int32,
    "margin": pl.Float64,
}

#: A unit of prediction: one player's market.
KEYS = ("player_key", "market")


#: The `prop_lines` columns the built-in models and the input fingerprint read.
QUOTE_COLUMNS = (
    *KEYS,
    "player_name",
    "bookmaker",
    "side",
    "line",
    "price_american",
    "price_decimal",
    "is_main_line",
    "snapshot_at",
    "last_update",
    "source",
    "commence_time",
)


class Model(Protocol):
    name: str

    def predict(self, lines: pl.DataFrame) -> dict[str, Any]:
        """One prediction for one player and market from that partition's validated lines."""
        ...


class PartitionPass(Protocol):
    def predict_partition(self, lines: pl.DataFrame) -> pl.DataFrame:
        """`lines`: prop_lines rows (at least `QUOTE_COLUMNS`) of any number of player
        markets. Returns one row per (player_key, market) in `lines`: `KEYS` and
        `PREDICTION_FIELDS`, each row what `predict` returns for that player market's lines.
        An error fails the whole pass; the stage then predicts each player on its own, so
        one player's bad data fails only that player."""
        ...


@runtime_checkable
class PartitionModel(Model, PartitionPass, Protocol):
    """A model that also predicts many player markets in one pass."""


def load_model(path: str, name: str, params: dict[str, Any]) -> Model:
    """`lineflow.models.consensus:Consensus` plus YAML parameters -> a model instance."""
    module_name, _, attr = path.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    model: Model = factory(name=name, **params)
    return model


def one_unit(model: PartitionPass, lines: pl.DataFrame) -> dict[str, Any]:
    """A partition model's prediction from one player market's lines (whatever their keys)."""
    unit = lines.with_columns(player_key=pl.lit("unit"), market=pl.lit("unit"))
    found = model.predict_partition(unit)
    return found.select(PREDICTION_FIELDS).row(0, named=True) if found.height else no_line()


def main_quotes(lines: Frame, keys: tuple[str, ...] = ()) -> Frame:
    """Each book's freshest priced main-line quote per side (per `keys`), whichever source
    carried it (`lineflow.core.quotes`): a book counts once however many sources quote it."""
    priced = lines.filter(
        pl.col("is_main_line").fill_null(False) & pl.col("price_decimal").is_not_null()
    )
    return book_quotes(priced, keys)


def book_pairs(lines: Frame, keys: tuple[str, ...] = ()) -> Frame:
    """Each book's freshest main over/under pair (per `keys`) with its no-vig (fair)
    probabilities.

    Columns: keys, bookmaker, line, dec_over, am_over, source_over, dec_under, am_under,
    source_under, fair_over, fair_under. The vig is removed by normalising the two implied
    probabilities to sum to 1. A book quoting one side only has no pair.
    """
    return pairs_of(main_quotes(lines, keys), keys)


def pairs_of(latest: Frame, keys: tuple[str, ...] = ()) -> Frame:
    """`book_pairs` from `main_quotes`' rows."""
    over = latest.filter(pl.col("side") == "over").select(
        *keys,
        "bookmaker",
        "line",
        dec_over=pl.col("price_decimal"),
        am_over=pl.col("price_american"),
        source_over=pl.col("source"),
    )
    under = latest.filter(pl.col("side") == "under").select(
        *keys,
        "bookmaker",
        "line",
        dec_under=pl.col("price_decimal"),
        am_under=pl.col("price_american"),
        source_under=pl.col("source"),
    )
    pairs = over.join(under, on=[*keys, "bookmaker", "line"], how="inner")
    total = 1 / pl.col("dec_over") + 1 / pl.col("dec_under")
    return pairs.with_columns(
        fair_over=(1 / pl.col("dec_over")) / total,
        fair_under=(1 / pl.col("dec_under")) / total,
    ).sort([*keys, "bookmaker"])


def consensus_lines(pairs: Frame, keys: tuple[str, ...] = ()) -> Frame:
    """Per `keys`, the line most books hang (ties: the lower line). Columns: keys, line."""
    counts = pairs.group_by([*keys, "line"]).len().sort(["len", "line"], descending=[True, False])
    first = counts.group_by(list(keys), maintain_order=True).first() if keys else counts.head(1)
    return first.select(*keys, "line")


def consensus_line(pairs: pl.DataFrame) -> float:
    """The line most books hang (ties: the lower line)."""
    return float(consensus_lines(pairs)["line"][0])


def no_line() -> dict[str, Any]:
    return {field: None for field in PREDICTION_FIELDS} | {"recommendation": "NO_LINE", "books": 0}


def predictions_frame(
    units: pl.DataFrame, found: dict[tuple[str, str], dict[str, Any]]
) -> pl.DataFrame:
    """One row per unit of `units` (KEYS): its prediction in `found`, or NO_LINE."""
    rows = []
    for key, market in units.iter_rows():
        prediction = found.get((key, market)) or no_line()
        rows.append((key, market, *(prediction[f] for f in PREDICTION_FIELDS)))
    schema: dict[str, type[pl.DataType]] = {**{k: pl.String for k in KEYS}, **PREDICTION_TYPES}
    return pl.DataFrame(rows, schema=schema, orient="row")


def population_stdev(values: list[float]) -> float:
    """`statistics.pstdev(values)` to the last bit, about ten times faster: the exact
    variance in integers (a float is an integer over a power of two) rather than fractions,
    then the same correctly rounded square root."""
    ratios = [v.as_integer_ratio() for v in values]
    shift = max(d.bit_length() for _, d in ratios) - 1
    scaled = [n << (shift - d.bit_length() + 1) for n, d in ratios]
    count, total = len(scaled), sum(scaled)
    numerator = count * sum(a * a for a in scaled) - total * total
    denominator = count * count << 2 * shift
    common = math.gcd(numerator, denominator)
    return _float_sqrt_of_frac(numerator // common, denominator // common)


def _float_sqrt_of_frac(n: int, m: int) -> float:
    """The square root of n/m as a float, correctly rounded: CPython's own
    (`statistics._float_sqrt_of_frac`, https://bugs.python.org/msg407078), which is private."""
    q = (n.bit_length() - m.bit_length() - _SQRT_BIT_WIDTH) // 2
    if q >= 0:
        return float(_isqrt_rto(n, m << 2 * q) << q)
    return _isqrt_rto(n << -2 * q, m) / (1 << -q)


def _isqrt_rto(n: int, m: int) -> int:
    """The square root of n/m rounded to an integer, to odd."""
    a = math.isqrt(n // m)
    return a | (a * a * m != n)


_SQRT_BIT_WIDTH = 2 * sys.float_info.mant_dig + 3
