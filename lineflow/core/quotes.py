"""One quote per bookmaker: a book's line counts once, however many sources carry it.

The Odds API, BettingPros and DraftKings all quote DraftKings. Consensus, best price, the
line-quality gate and the prediction fingerprint read a player's market through `book_quotes`:
per bookmaker and side, the freshest quote (latest `last_update`, then latest `snapshot_at`),
with the `source` that carried it. A side quoted at another line than its book's freshest quote
is a stale half of a pair and is dropped, so over and under are never paired across lines.

Invariants: at most one row per (keys, bookmaker, side); the result does not depend on row
order (ties after freshness go to the source, then line, then price, in sort order); a quote
without `last_update` is older than any quote with one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import polars as pl

#: Eager or lazy: the predict stage builds its whole pass lazily and collects it once.
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

#: Freshest last: the order quotes are ranked in (the trailing columns only break ties).
FRESHNESS = ("last_update", "snapshot_at", "source", "line", "price_decimal")


def book_quotes(lines: Frame, keys: Sequence[str] = (), lead_source: str | None = None) -> Frame:
    """Per (keys, bookmaker, side) the freshest quote, at the line of its book's freshest
    quote; sorted by keys, bookmaker, side. `lines` has the prop_lines columns. `lead_source`:
    a column of that name says, on each of a book's rows, the source of its freshest quote
    (whatever the tie-break between sides, the same: tied on every freshness column, they
    are tied on the source too)."""
    book: list[str] = [*keys, "bookmaker"]
    # Only a side's quotes of its latest `last_update` can be its freshest (NULL, the oldest,
    # is kept only where no quote has one): sorting just those, not every snapshot's quote,
    # ranks a seventh of the gate's rows (13 -> 9 ms a partition of ~33k rows).
    newest = pl.col("last_update").max().over([*book, "side"])
    ranked = lines.filter(pl.col("last_update").eq_missing(newest)).sort(
        list(FRESHNESS), nulls_last=False
    )
    freshest = ranked.group_by([*book, "side"], maintain_order=True).last()
    # Sorted once by freshness, a book's last side is its freshest quote: its line leads (a
    # sort within each book's window cost twice as much; sides tied on every freshness
    # column are at the same line, so which comes last does not matter).
    leads = {"_lead": pl.col("line").last().over(book)}
    if lead_source is not None:
        leads[lead_source] = pl.col("source").last().over(book)
    return (
        freshest.sort(list(FRESHNESS), nulls_last=False)
        .with_columns(**leads)
        .filter(pl.col("line").eq_missing(pl.col("_lead")))
        .drop("_lead")
        .sort([*book, "side"])
    )
