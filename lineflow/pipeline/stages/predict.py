"""predict: the models over every (player, market) that passes the line-quality gate.

Excluded units are recorded with the gate's reasons and never retried within the run, so the
batch always finishes. Units whose lines did not change since their active predictions are left
alone; units that are new, repaired (excluded before, passing now) or whose lines moved are
(re)generated, and what they replace is marked inactive, never deleted (self-heal).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import timedelta
from multiprocessing import get_context
from typing import Any

import polars as pl

from lineflow.config import PredictConfig
from lineflow.models.base import QUOTE_COLUMNS, PartitionModel, load_model
from lineflow.pipeline import figures
from lineflow.pipeline.predictions import (
    COMPLETE,
    FAILED,
    WITH_EXCLUSIONS,
    BatchStore,
    Heartbeat,
    Items,
    ModelSpec,
    Unit,
    _worker,
    exclusions_json,
    fingerprints,
    is_stale,
    reported,
    stage_units,
)
from lineflow.pipeline.stages.base import RunContext, StageResult
from lineflow.state import open_state
from lineflow.warehouse.duckdb import PredictionBatch


def run(ctx: RunContext) -> list[StageResult]:
    result = StageResult("predict", "predict", started_at=ctx.clock())
    config = ctx.settings.pipeline.predict
    if config is None:
        result.status = "skipped"
        result.notes.append("no predict section in the pipeline config")
    else:
        predict(ctx, config, result, dry_run=False)
        if not result.figures:  # a batch counts them in its commit's session
            with ctx.warehouse.session():
                ctx.warehouse.ensure_feature("predictions")
                result.figures = figures.predicted(ctx.warehouse, ctx.partition, config.markets)
    result.finished_at = ctx.clock()
    return [result]


def plan(ctx: RunContext, config: PredictConfig) -> dict[str, Any] | None:
    """What a predict run of the partition would do: units to (re)generate, excluded, kept."""
    wh = ctx.warehouse
    with wh.session():
        wh.ensure_feature("predictions")
        inputs = wh.prediction_inputs(ctx.partition, config.markets, _columns(config))
    if inputs is None:
        return None
    quality, lines = inputs.quality, inputs.lines
    excluded_before = sorted(
        {tuple(key.split(":", 1)) for text in inputs.exclusions for key in json.loads(text)}
    )
    was_excluded = pl.LazyFrame(
        {
            "player_key": [k for k, _ in excluded_before],
            "market": [m for _, m in excluded_before],
            "was_excluded": [True] * len(excluded_before),
        },
        schema={"player_key": pl.String, "market": pl.String, "was_excluded": pl.Boolean},
    )
    keys = ["player_key", "market"]
    passing = quality.lazy().filter(pl.col("passed")).select(keys)
    joined = (
        fingerprints(lines.lazy())
        .join(passing, on=keys, how="semi")
        .join(inputs.active.lazy(), on=keys, how="left")
    )
    todo = (
        joined.filter(
            pl.col("active_fp").is_null() | (pl.col("active_fp") != pl.col("fingerprint"))
        )
        .join(was_excluded, on=keys, how="left")
        .with_columns(
            reason=pl.when(pl.col("active_fp").is_not_null())
            .then(pl.lit("lines_changed"))
            .when(pl.col("was_excluded").fill_null(False))
            .then(pl.lit("repaired"))
            .otherwise(pl.lit("new"))
        )
        .drop("was_excluded")
    )
    # One lazy query, collected once (see `lineflow.models.base` on the GIL).
    excluded, todo_now, units = pl.collect_all(
        [quality.lazy().filter(~pl.col("passed")), todo, joined.select(pl.len())]
    )
    return {
        "quality": quality,
        "excluded": excluded,
        "todo": todo_now,
        "kept": units.item() - todo_now.height,
        "lines": lines,
    }


def _columns(config: PredictConfig) -> tuple[str, ...] | None:
    """The prop_lines columns the batch reads: the quotes' when every model predicts a
    partition in one pass (a third less to read), else all (a model's `predict` gets them)."""
    models = [load_model(m.path, m.name, dict(m.params)) for m in config.models]
    return QUOTE_COLUMNS if all(isinstance(m, PartitionModel) for m in models) else None


def predict(ctx: RunContext, config: PredictConfig, result: StageResult, dry_run: bool) -> None:
    state = BatchStore(open_state(ctx.settings))
    work = plan(ctx, config)
    if work is None or work["quality"].is_empty():
        result.status = "skipped"
        result.notes.append("no line-quality verdicts for the partition (validate runs first)")
        return
    now = ctx.clock()
    stale_after = timedelta(seconds=config.stale_after_s)
    dead = state.open_batch(ctx.partition)
    if dead is not None and not is_stale(dead, now, stale_after):
        result.status = "failed"
        result.error = f"batch {dead['batch_id']} is running in {dead['owner']}"
        return
    todo: pl.DataFrame = work["todo"]
    excluded: pl.DataFrame = work["excluded"]
    if todo.is_empty() and dead is None:
        result.rows = 0
        result.notes.append(up_to_date(work["kept"], excluded.height))
        return
    units = [
        Unit(r["player_key"], r["market"], r["player_name"], r["fingerprint"], r["reason"])
        for r in todo.iter_rows(named=True)
    ]
    items = [
        (r["player_key"], r["market"], "excluded", ",".join(r["reasons"]), None)
        for r in excluded.iter_rows(named=True)
    ] + [(u.player_key, u.market, "pending", None, None) for u in units]
    if dead is not None:
        batch_id = dead["batch_id"]
        state.adopt(batch_id, ctx.run_id, now, items)
        result.notes.append(f"resumed batch {batch_id} (its process died)")
    else:
        # The second it started, and the run's own suffix: two runs of the partition can
        # start their predictions in the same second (runs take under a second; a pinned
        # `now` starts each at the same time), and the id is the state store's key.
        suffix = ctx.run_id.rsplit("-", 1)[-1]
        batch_id = f"batch_{ctx.partition:%Y%m%d}_{int(now.timestamp())}_{suffix}"
        state.create(batch_id, ctx.partition, ctx.run_id, now, items)
    staging = ctx.settings.home / "staging" / "predictions" / batch_id
    staging.mkdir(parents=True, exist_ok=True)
    lines: pl.DataFrame = work["lines"]
    models = _specs(config)
    shares = [
        (chunk, lines.join(_keys(chunk), on=["player_key", "market"], how="semi"))
        for chunk in _chunks(units, config.workers)
    ]
    failures: dict[tuple[str, str], str] = {}
    done: Items = []  # the units predicted in this process, reported with the batch's end
    with (
        Heartbeat(lambda: state.heartbeat(batch_id, ctx.clock()), config.heartbeat_s),
        _progress(len(units), f"predict {ctx.partition}") as advance,
    ):
        if config.workers == 1 or len(shares) <= 1:
            for i, (chunk, of_chunk) in enumerate(shares):
                found = stage_units(staging, i, models, chunk, of_chunk, ctx.partition)
                failures |= found
                done = [*done, *reported(chunk, found)]
                advance(len(chunk))
        else:
            with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
                futures = {
                    pool.submit(
                        _worker, state.store, batch_id, str(staging), i, models, chunk,
                        of_chunk, ctx.partition,
                    ): len(chunk)
                    for i, (chunk, of_chunk) in enumerate(shares)
                }  # fmt: skip
                for future in as_completed(futures):
                    failures |= future.result()
                    advance(futures[future])
    failed = [
        {"player_key": key, "market": market, "error": failures[(key, market)]}
        for key, market in sorted(failures)
    ]
    status = _consolidate(
        ctx, batch_id, staging, units, excluded, failed, work["kept"], config.markets, result
    )
    state.finish(batch_id, status, done)
    shutil.rmtree(staging, ignore_errors=True)
    # rows: the predictions this run wrote (one per model and player market); it reads no files.
    result.rows = len(units) * len(config.models) - len(failed) * len(config.models)
    markets = ", ".join(config.markets)
    result.notes.append(
        f"batch {batch_id}: {status}; player markets of {markets}: {len(units)} (re)generated, "
        f"{work['kept']} unchanged, {excluded.height} excluded by the line-quality gate, "
        f"{len(failed)} failed"
    )
    if status == FAILED:
        result.status = "failed"
        result.error = f"batch {batch_id} failed: {failed[0]['error'] if failed else 'no unit'}"


def _specs(config: PredictConfig) -> list[ModelSpec]:
    return [ModelSpec(m.name, m.path, dict(m.params)) for m in config.models]


def _chunks(units: list[Unit], workers: int) -> list[list[Unit]]:
    """One chunk, predicted in one pass, for a stage without worker processes; else small
    chunks (a few per worker) so progress moves and the workers stay evenly busy."""
    if workers <= 1:
        return [units] if units else []
    size = max(1, -(-len(units) // (workers * 4)))
    return [units[i : i + size] for i in range(0, len(units), size)]


def _keys(units: list[Unit]) -> pl.DataFrame:
    return pl.DataFrame(
        {"player_key": [u.player_key for u in units], "market": [u.market for u in units]},
        schema={"player_key": pl.String, "market": pl.String},
    )


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr while the batch runs (drawn only on a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _n: None
        return
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _consolidate(
    ctx: RunContext,
    batch_id: str,
    staging: Any,
    units: list[Unit],
    excluded: pl.DataFrame,
    failed: list[dict[str, Any]],
    kept: int,
    markets: list[str],
    result: StageResult,
) -> str:
    """The batch's rows into the warehouse, in one transaction with the rows they supersede;
    the stage's figures counted in the same session (one wait for the warehouse, not two)."""
    now = ctx.clock()
    files = sorted(staging.glob("worker-*.parquet"))
    staged = pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()
    regenerated = [u for u in units if u.reason != "new"]
    expected = len(units) + kept + excluded.height
    completed = len(units) - len(failed) + kept
    status = (
        FAILED
        if units and len(failed) == len(units)
        else WITH_EXCLUSIONS
        if excluded.height or failed
        else COMPLETE
    )
    rows = (
        staged.with_columns(
            is_active=pl.lit(True),
            batch_id=pl.lit(batch_id),
            run_id=pl.lit(ctx.run_id),
            created_at=pl.lit(now),
            superseded_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        )
        if staged.height
        else staged
    )
    batch = PredictionBatch(
        batch_id=batch_id,
        slate_date=ctx.partition,
        status=status,
        expected=expected,
        completed=completed,
        excluded=excluded.height,
        failed=len(failed),
        regenerated=len(regenerated),
        run_id=ctx.run_id,
        exclusions=exclusions_json(excluded),
        failures="; ".join(f"{f['player_key']}:{f['market']}: {f['error']}" for f in failed)
        or None,
    )
    healed = (
        (
            sorted({u.player_key for u in regenerated}),
            ", ".join(sorted({u.reason for u in regenerated})),
        )
        if regenerated
        else None
    )
    # Only regenerated units have active rows to supersede (a new one had none when planned,
    # and the commit's duplicate check would roll back if one appeared); a first batch of a
    # partition supersedes nothing and skips the update.
    superseded = [(u.player_key, u.market) for u in regenerated]
    with ctx.warehouse.session():
        ctx.warehouse.commit_batch(batch, superseded, rows, healed, now)
        result.figures = figures.predicted(ctx.warehouse, ctx.partition, markets)
    return status


def up_to_date(kept: int, excluded: int) -> str:
    """What a rerun with nothing to predict says (also said for a complete partition)."""
    return (
        f"predictions up to date: {kept} player markets kept, "
        f"{excluded} excluded by the line-quality gate"
    )
