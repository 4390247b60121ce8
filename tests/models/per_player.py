"""The built-in models as they were before the partition pass: one player market at a time.

Kept as the reference the partition pass is checked against (tests/models/test_partition.py,
tests/stages/test_predict.py): the same rows, to the last bit. Not used by lineflow. A
player's quotes and pairs come from `lineflow.models.base` without keys, the code the models
used before (its numbers are checked by hand in test_models.py and test_pairing.py).
"""

from __future__ import annotations

import statistics
from typing import Any

import polars as pl

from lineflow.models.base import book_pairs, main_quotes, no_line


def consensus_line(pairs: pl.DataFrame) -> float:
    counts = pairs.group_by("line").len().sort(["len", "line"], descending=[True, False])
    return float(counts["line"][0])


def consensus(lines: pl.DataFrame, max_dispersion: float = 0.05) -> dict[str, Any]:
    pairs = book_pairs(lines)
    if pairs.is_empty():
        return no_line()
    line = consensus_line(pairs)
    at_line = pairs.filter(pl.col("line") == line)
    fair = at_line["fair_over"].to_list()
    prob_over = statistics.median(fair)
    dispersion = statistics.pstdev(fair) if len(fair) > 1 else 0.0
    agreement = max(0.0, 1.0 - dispersion / max_dispersion)
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


def best_price(
    lines: pl.DataFrame, edge: float = 0.02, max_dispersion: float = 0.05
) -> dict[str, Any]:
    fair = consensus(lines, max_dispersion)
    if fair["recommendation"] == "NO_LINE":
        return no_line()
    line = fair["line"]
    latest = main_quotes(lines).filter(pl.col("line") == line)
    sides = []
    for side, prob in (("over", fair["prob_over"]), ("under", fair["prob_under"])):
        offers = latest.filter(pl.col("side") == side).sort(
            ["price_decimal", "bookmaker"], descending=[True, False]
        )
        if offers.is_empty():
            continue
        best = offers.row(0, named=True)
        ev = prob * best["price_decimal"] - 1
        sides.append((ev, side, best))
    ev, side, best = max(sides, key=lambda s: s[0])
    recommend = side.upper() if ev > edge else "PASS"
    return fair | {
        "recommendation": recommend,
        "bookmaker": best["bookmaker"],
        "bookmaker_source": best["source"],
        "price_american": best["price_american"],
        "expected_value": round(ev, 6),
    }


def minutes_before_tip(lines: pl.DataFrame) -> float | None:
    gap = lines.select(
        (pl.col("commence_time").min() - pl.col("snapshot_at").max()).dt.total_seconds() / 60
    ).item()
    return float(gap) if gap is not None else None
