"""Prediction batches: a batch always finishes, staging is consolidated atomically, and
players whose lines change (or get repaired) are regenerated, never duplicated.

The unit of a batch is (player, market). Every unit of the partition's line-quality table is
`completed` (predicted now, or unchanged since its active prediction), `excluded` (the gate's
reasons; permanent for the run, never retried) or `failed` (a model error, recorded). Live batch
state sits in the SQLite state store so worker processes can report into it; the DuckDB
`prediction_batches` table mirrors each batch when it ends.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from lineflow.core.quotes import book_quotes
from lineflow.models.base import PREDICTION_FIELDS, load_model
from lineflow.state import StateStore

#: Columns a staged prediction row carries (model output plus keys and lineage).
STAGED_COLUMNS = (
    "slate_date",
    "player_key",
    "player_name",
    "market",
    "model",
    *PREDICTION_FIELDS,
    "line_source",
    "minutes_before_tip",
    "input_fingerprint",
)

RUNNING, COMPLETE, WITH_EXCLUSIONS, FAILED = (
    "running",
    "complete",
    "complete_with_exclusions",
    "failed",
)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    player_key: str
    market: str
    player_name: str | None
    fingerprint: str
    reason: str  # why it is (re)generated: new | repaired | lines_changed


def fingerprints(lines: pl.DataFrame) -> pl.DataFrame:
    """Per (player_key, market): a digest of the quotes the models read, each book's freshest
    main line and price per side (`lineflow.core.quotes`) and the source that carried it.

    A new snapshot that repeats the same lines keeps the digest; a moved line or price, or the
    same book's quote now coming from another source, changes it. Returns player_key, market,
    player_name, fingerprint, commence_time.
    """
    newest = book_quotes(
        lines.filter(pl.col("is_main_line").fill_null(False)), ("player_key", "market")
    )
    text = pl.concat_str(
        pl.col("bookmaker"),
        pl.col("side"),
        pl.col("line").cast(pl.String),
        pl.col("price_american").cast(pl.String),
        pl.col("source"),
        separator="|",
    )
    return (
        newest.with_columns(_t=text)
        .group_by("player_key", "market")
        .agg(
            pl.col("player_name").min(),  # books spell names differently: one, any order
            pl.col("_t").sort().str.join(";").hash().cast(pl.String).alias("fingerprint"),
            pl.col("commence_time").min(),
        )
        .sort("player_key", "market")
    )


def predict_units(
    models: list[ModelSpec],
    units: list[tuple[Unit, pl.DataFrame]],
    slate_date: date,
    snapshot_of: Callable[[pl.DataFrame], datetime | None] | None = None,
) -> tuple[pl.DataFrame, dict[tuple[str, str], str]]:
    """Run every model on every unit. Returns staged rows and the failed units' errors."""
    loaded = [load_model(m.path, m.name, m.params) for m in models]
    rows: list[dict[str, Any]] = []
    failures: dict[tuple[str, str], str] = {}
    for unit, lines in units:
        try:
            produced = [(model.name, model.predict(lines)) for model in loaded]
        except Exception as exc:  # a model bug fails this unit, never the batch
            failures[(unit.player_key, unit.market)] = f"{type(exc).__name__}: {exc}"
            continue
        minutes = _minutes_before_tip(lines)
        for name, prediction in produced:
            rows.append(
                {
                    "slate_date": slate_date,
                    "player_key": unit.player_key,
                    "player_name": unit.player_name,
                    "market": unit.market,
                    "model": name,
                    **{k: prediction.get(k) for k in PREDICTION_FIELDS},
                    "line_source": "actual_prop" if prediction.get("line") is not None else "none",
                    "minutes_before_tip": minutes,
                    "input_fingerprint": unit.fingerprint,
                }
            )
    schema = {
        "slate_date": pl.Date,
        "player_key": pl.String,
        "player_name": pl.String,
        "market": pl.String,
        "model": pl.String,
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
        "line_source": pl.String,
        "minutes_before_tip": pl.Float64,
        "input_fingerprint": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row"), failures


def _minutes_before_tip(lines: pl.DataFrame) -> float | None:
    """Minutes between the newest snapshot used and tip-off."""
    gap = lines.select(
        (pl.col("commence_time").min() - pl.col("snapshot_at").max()).dt.total_seconds() / 60
    ).item()
    return float(gap) if gap is not None else None


def _worker(
    state: StateStore,
    batch_id: str,
    staging: str,
    worker: int,
    models: list[ModelSpec],
    units: list[tuple[Unit, pl.DataFrame]],
    slate_date: date,
) -> int:
    """One worker process: predict its share, stage it as one Parquet file, report items."""
    frame, failures = predict_units(models, units, slate_date)
    target = Path(staging) / f"worker-{worker:03d}.parquet"
    tmp = target.with_suffix(".tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, target)  # staging appears whole or not at all
    store = BatchStore(state)  # the parent's store, pickled: its address, no connection
    store.set_items(
        batch_id,
        [
            (u.player_key, u.market, _status(u, failures), None, failures.get(_key(u)))
            for u, _ in units
        ],
    )
    return frame.height


def _key(unit: Unit) -> tuple[str, str]:
    return unit.player_key, unit.market


def _status(unit: Unit, failures: dict[tuple[str, str], str]) -> str:
    return "failed" if _key(unit) in failures else "completed"


class BatchStore:
    """Batch and item state in the state store (safe for worker processes)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        store.ensure("predictions")

    def open_batch(self, slate_date: date) -> dict[str, Any] | None:
        with self.store.connect() as con:
            row = con.execute(
                "SELECT * FROM prediction_batch_state WHERE slate_date = ? AND status = 'running' "
                "ORDER BY started_at DESC LIMIT 1",
                (str(slate_date),),
            ).fetchone()
        return dict(row) if row else None

    def create(self, batch_id: str, slate_date: date, run_id: str, now: datetime) -> None:
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO prediction_batch_state VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (batch_id, str(slate_date), owner(), run_id, now.isoformat(), now.isoformat()),
            )

    def adopt(self, batch_id: str, run_id: str, now: datetime) -> None:
        with self.store.transaction() as con:
            con.execute(
                "UPDATE prediction_batch_state SET owner = ?, run_id = ?, heartbeat_at = ? "
                "WHERE batch_id = ?",
                (owner(), run_id, now.isoformat(), batch_id),
            )

    def heartbeat(self, batch_id: str, now: datetime) -> None:
        with self.store.transaction() as con:
            con.execute(
                "UPDATE prediction_batch_state SET heartbeat_at = ? WHERE batch_id = ?",
                (now.isoformat(), batch_id),
            )

    def set_items(self, batch_id: str, items: list[tuple[str, str, str, str | None, str | None]]):
        now = datetime.now(UTC).isoformat()
        with self.store.transaction() as con:
            con.executemany(
                "INSERT INTO prediction_items VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (batch_id, player_key, market) DO UPDATE SET "
                "status = excluded.status, reasons = excluded.reasons, error = excluded.error, "
                "updated_at = excluded.updated_at",
                [(batch_id, p, m, s, r, e, now) for p, m, s, r, e in items],
            )

    def items(self, batch_id: str) -> list[dict[str, Any]]:
        with self.store.connect() as con:
            rows = con.execute(
                "SELECT * FROM prediction_items WHERE batch_id = ? ORDER BY player_key, market",
                (batch_id,),
            ).fetchall()
        return [dict(r) for r in rows]

    def finish(self, batch_id: str, status: str) -> None:
        with self.store.transaction() as con:
            con.execute(
                "UPDATE prediction_batch_state SET status = ? WHERE batch_id = ?",
                (status, batch_id),
            )


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_stale(batch: dict[str, Any], now: datetime, stale_after: timedelta) -> bool:
    """A running batch whose heartbeat stopped: its process died."""
    return now - datetime.fromisoformat(batch["heartbeat_at"]) > stale_after


class Heartbeat:
    """Renews a batch's heartbeat every `interval` seconds until stopped."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="batch-heartbeat")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def exclusions_json(excluded: pl.DataFrame) -> str:
    return json.dumps(
        {f"{r['player_key']}:{r['market']}": r["reasons"] for r in excluded.iter_rows(named=True)},
        sort_keys=True,
    )
