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
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from lineflow.core.quotes import Frame, book_quotes
from lineflow.models.base import (
    KEYS,
    PREDICTION_FIELDS,
    PREDICTION_TYPES,
    Model,
    PartitionModel,
    load_model,
)
from lineflow.state import StateStore
from lineflow.state.locks import this_host

#: A staged prediction row: model output plus keys and lineage, typed as the table stores it.
STAGED_SCHEMA: dict[str, type[pl.DataType]] = {
    "slate_date": pl.Date,
    "player_key": pl.String,
    "player_name": pl.String,
    "market": pl.String,
    "model": pl.String,
    **PREDICTION_TYPES,
    "line_source": pl.String,
    "minutes_before_tip": pl.Float64,
    "input_fingerprint": pl.String,
}
STAGED_COLUMNS = tuple(STAGED_SCHEMA)

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


def fingerprints(lines: Frame) -> Frame:
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
    models: list[ModelSpec], units: list[Unit], lines: pl.DataFrame, slate_date: date
) -> tuple[pl.DataFrame, dict[tuple[str, str], str]]:
    """Run every model on every unit. `lines`: the units' prop_lines rows (other units' rows
    are left out). Returns staged rows (unit by unit, models in order) and the failed units'
    errors.

    A model with a partition pass (`PartitionModel`) predicts all the units at once; if that
    pass fails, or a model has none, each unit is predicted on its own, so a model error
    fails its unit, never the batch."""
    order = pl.DataFrame(
        {
            "player_key": [u.player_key for u in units],
            "market": [u.market for u in units],
            "player_name": [u.player_name for u in units],
            "input_fingerprint": [u.fingerprint for u in units],
            "_unit": list(range(len(units))),
        },
        schema={
            **{k: pl.String for k in (*KEYS, "player_name", "input_fingerprint")},
            "_unit": pl.Int64,
        },
    )
    lines = lines.join(order.select(KEYS), on=list(KEYS), how="semi")
    failures: dict[tuple[str, str], str] = {}
    found = []
    for i, spec in enumerate(models):
        model = load_model(spec.path, spec.name, spec.params)
        predicted = _predict(model, units, lines, failures)
        found.append(predicted.lazy().with_columns(model=pl.lit(spec.name), _model=pl.lit(i)))
    failed = pl.LazyFrame(
        {"player_key": [k for k, _ in failures], "market": [m for _, m in failures]},
        schema={k: pl.String for k in KEYS},
    )
    # One lazy query, collected once (see `lineflow.models.base` on the GIL).
    rows = (
        order.lazy()
        .join(failed, on=list(KEYS), how="anti")
        .join(pl.concat(found), on=list(KEYS))
        .join(minutes_before_tip(lines.lazy()), on=list(KEYS), how="left")
        .sort("_unit", "_model")
        .with_columns(
            slate_date=pl.lit(slate_date, pl.Date),
            line_source=pl.when(pl.col("line").is_not_null())
            .then(pl.lit("actual_prop"))
            .otherwise(pl.lit("none")),
        )
        .select(pl.col(c).cast(t) for c, t in STAGED_SCHEMA.items())
    )
    return rows.collect(), failures


def _predict(
    model: Model, units: list[Unit], lines: pl.DataFrame, failures: dict[tuple[str, str], str]
) -> pl.DataFrame:
    """One model's predictions of the units (KEYS and PREDICTION_FIELDS): in one pass when
    it can and the pass succeeds, else unit by unit, recording the units it fails in
    `failures` (a unit failed by an earlier model is not predicted again)."""
    if isinstance(model, PartitionModel):
        try:
            found = model.predict_partition(lines)
        except Exception:  # whose data it was is found unit by unit below
            found = None
        if found is not None and _one_row_each(found, units):
            fields = [*KEYS, *PREDICTION_FIELDS]
            return found if found.columns == fields else found.select(fields)
    by_unit = lines.partition_by(list(KEYS), as_dict=True)
    rows: list[dict[str, Any]] = []
    for unit in units:
        key = _key(unit)
        if key in failures:
            continue
        try:
            prediction = model.predict(by_unit.get(key, lines.clear()))
        except Exception as exc:  # a model bug fails this unit, never the batch
            failures[key] = f"{type(exc).__name__}: {exc}"
            continue
        rows.append(
            {"player_key": unit.player_key, "market": unit.market}
            | {k: prediction.get(k) for k in PREDICTION_FIELDS}
        )
    schema: dict[str, type[pl.DataType]] = {**{k: pl.String for k in KEYS}, **PREDICTION_TYPES}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _one_row_each(found: pl.DataFrame, units: list[Unit]) -> bool:
    """Whether a partition pass answered each unit exactly once, with every field."""
    if not {*KEYS, *PREDICTION_FIELDS} <= set(found.columns) or found.height != len(units):
        return False
    return set(zip(found["player_key"], found["market"], strict=True)) == set(map(_key, units))


def minutes_before_tip(lines: Frame) -> Frame:
    """Per unit (KEYS): minutes between the newest snapshot of its lines and its earliest
    tip-off (`minutes_before_tip`; null without a tip-off)."""
    return lines.group_by(KEYS).agg(
        minutes_before_tip=(pl.col("commence_time").min() - pl.col("snapshot_at").max())
        .dt.total_seconds()
        .cast(pl.Float64)
        / 60
    )


def stage_units(
    staging: Path,
    worker: int,
    models: list[ModelSpec],
    units: list[Unit],
    lines: pl.DataFrame,
    slate_date: date,
) -> dict[tuple[str, str], str]:
    """Predict `units` and stage their rows as one Parquet file (`worker-NNN.parquet`).
    Returns the failed units' errors."""
    frame, failures = predict_units(models, units, lines, slate_date)
    target = staging / f"worker-{worker:03d}.parquet"
    tmp = target.with_suffix(".tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, target)  # staging appears whole or not at all
    return failures


def reported(units: list[Unit], failures: dict[tuple[str, str], str]) -> Items:
    """The units' items once predicted: completed, or failed with the model's error."""
    return [
        (u.player_key, u.market, _status(u, failures), None, failures.get(_key(u))) for u in units
    ]


def _worker(
    state: StateStore,
    batch_id: str,
    staging: str,
    worker: int,
    models: list[ModelSpec],
    units: list[Unit],
    lines: pl.DataFrame,
    slate_date: date,
) -> dict[tuple[str, str], str]:
    """One worker process: stage its share, report each unit into the batch's items (which
    the stage and `status` watch). Returns the failed units' errors."""
    failures = stage_units(Path(staging), worker, models, units, lines, slate_date)
    store = BatchStore(state)  # the parent's store, pickled: its address, no connection
    store.set_items(batch_id, reported(units, failures))
    return failures


def _key(unit: Unit) -> tuple[str, str]:
    return unit.player_key, unit.market


def _status(unit: Unit, failures: dict[tuple[str, str], str]) -> str:
    return "failed" if _key(unit) in failures else "completed"


#: Batch items as the state store takes them: (player_key, market, status, reasons, error).
Items = Sequence[tuple[str, str, str, str | None, str | None]]


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

    def create(
        self, batch_id: str, slate_date: date, run_id: str, now: datetime, items: Items = ()
    ) -> None:
        """A running batch, and its `items` (as `set_items` takes them), in one transaction."""
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO prediction_batch_state VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (batch_id, str(slate_date), owner(), run_id, now.isoformat(), now.isoformat()),
            )
            self._set_items(con, batch_id, items)

    def adopt(self, batch_id: str, run_id: str, now: datetime, items: Items = ()) -> None:
        """A dead process's batch taken over by this one, with its `items` now."""
        with self.store.transaction() as con:
            con.execute(
                "UPDATE prediction_batch_state SET owner = ?, run_id = ?, heartbeat_at = ? "
                "WHERE batch_id = ?",
                (owner(), run_id, now.isoformat(), batch_id),
            )
            self._set_items(con, batch_id, items)

    def heartbeat(self, batch_id: str, now: datetime) -> None:
        with self.store.transaction() as con:
            con.execute(
                "UPDATE prediction_batch_state SET heartbeat_at = ? WHERE batch_id = ?",
                (now.isoformat(), batch_id),
            )

    def set_items(self, batch_id: str, items: Items) -> None:
        """Each item's (player_key, market, status, reasons, error), replacing what it was."""
        with self.store.transaction() as con:
            self._set_items(con, batch_id, items)

    @staticmethod
    def _set_items(con: Any, batch_id: str, items: Items) -> None:
        now = datetime.now(UTC).isoformat()
        if items:
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

    def finish(self, batch_id: str, status: str, items: Items = ()) -> None:
        """The batch's end, with its last `items`, in one transaction."""
        with self.store.transaction() as con:
            self._set_items(con, batch_id, items)
            con.execute(
                "UPDATE prediction_batch_state SET status = ? WHERE batch_id = ?",
                (status, batch_id),
            )


def owner() -> str:
    return f"{this_host()}:{os.getpid()}"


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
