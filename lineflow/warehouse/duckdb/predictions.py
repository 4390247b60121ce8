"""Prediction batches: a batch's rows, the rows they supersede and the batch's record, committed
together (`predictions`, `prediction_batches`, `self_heal_log`; see docs/predictions.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from lineflow.core.frames import arrow_stream
from lineflow.warehouse.duckdb.connection import SharedConnection, writes


@dataclass(frozen=True)
class PredictionBatch:
    """What one predict batch concluded, as `prediction_batches` records it."""

    batch_id: str
    slate_date: date
    status: str
    expected: int
    completed: int
    excluded: int
    failed: int
    regenerated: int
    run_id: str
    exclusions: str | None
    failures: str | None


class Predictions(SharedConnection):
    """The predictions of each partition, active or superseded, and their batches."""

    @writes
    def commit_batch(
        self,
        batch: PredictionBatch,
        units: Sequence[tuple[str, str]],
        rows: pl.DataFrame,
        healed: tuple[list[str], str] | None,
        now: datetime,
    ) -> None:
        """One transaction: mark the active predictions of `units` (player, market) superseded,
        insert the batch's `rows`, check that no key is active twice, and record the batch
        (replacing its row when a resumed batch finishes) and what self-heal regenerated
        (`healed`: players and reasons)."""
        with self.transaction() as con:
            if units:
                keys = pl.DataFrame(
                    {"player_key": [u[0] for u in units], "market": [u[1] for u in units]}
                )
                con.register("_units", arrow_stream(keys))  # scanned once
                con.execute(
                    "UPDATE predictions SET is_active = false, superseded_at = ? "
                    "WHERE slate_date = ? AND is_active AND (player_key, market) IN "
                    "(SELECT player_key, market FROM _units)",
                    [now, batch.slate_date],
                )
                con.unregister("_units")
            if rows.height:
                con.register("_staged", arrow_stream(rows))  # scanned once
                con.execute("INSERT INTO predictions BY NAME SELECT * FROM _staged")
                con.unregister("_staged")
            dupes = con.execute(
                "SELECT count(*) FROM (SELECT 1 FROM predictions WHERE slate_date = ? "
                "AND is_active GROUP BY slate_date, player_key, market, model, line "
                "HAVING count(*) > 1)",
                [batch.slate_date],
            ).fetchone()
            if dupes and dupes[0]:
                raise RuntimeError(f"batch {batch.batch_id}: {dupes[0]} duplicated prediction keys")
            # A resumed batch keeps when it started; its row is replaced (deleted and inserted:
            # a lake has no key for INSERT OR REPLACE).
            started = con.execute(
                "SELECT started_at FROM prediction_batches WHERE batch_id = ?", [batch.batch_id]
            ).fetchone()
            con.execute("DELETE FROM prediction_batches WHERE batch_id = ?", [batch.batch_id])
            con.execute(
                "INSERT INTO prediction_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch.batch_id,
                    batch.slate_date,
                    batch.status,
                    batch.expected,
                    batch.completed,
                    batch.excluded,
                    batch.failed,
                    batch.regenerated,
                    now,
                    started[0] if started else now,
                    now,
                    batch.run_id,
                    batch.exclusions,
                    batch.failures,
                ],
            )
            if healed is not None:
                players, reasons = healed
                con.execute(
                    "INSERT INTO self_heal_log VALUES (?, ?, ?, ?, ?, ?)",
                    [now, batch.slate_date, players, reasons, batch.run_id, batch.batch_id],
                )
