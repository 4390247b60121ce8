"""Run a request's stages over one partition and report what happened.

`open_context(settings, request)` is the one way to open a run's context; `run_partition` adds
the run log, the work queue and the stage locks to it and runs the stages. Callers below the
commands (repairs, triggers, backfill, self-heal) pass what differs in the `RunRequest`
(stages, only, snapshot), never a patched copy of the `Settings`."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from lineflow import sources
from lineflow.config import Settings
from lineflow.core.errors import ConfigError, LineflowError
from lineflow.core.faults import kill_point
from lineflow.http import HttpLayer, Redactor
from lineflow.landing import open_landing
from lineflow.pipeline import complete
from lineflow.pipeline.logs import close_run_log, open_run_log
from lineflow.pipeline.request import RunRequest
from lineflow.pipeline.stages import consolidate, predict, process, publish, scrape, validate
from lineflow.pipeline.stages.base import RunContext, StageResult
from lineflow.state import open_state
from lineflow.state.locks import Locks, signals_raise
from lineflow.state.work import WorkQueue
from lineflow.warehouse import open_warehouse
from lineflow.warehouse.duckdb import WarehouseBusy

STAGES: dict[str, Callable[[RunContext], list[StageResult]]] = {
    "scrape": scrape.run,
    "process": process.run,
    "validate": validate.run,
    "consolidate": consolidate.run,
    "predict": predict.run,
    "publish": publish.run,
}

#: Stages that only read and write the warehouse and the landing zone: consecutive ones share
#: one warehouse connection with their run_history rows (a connection costs a connect, a
#: schema check and a checkpoint), each stage still taking short sessions, so that another
#: partition's thread can write while this one parses. A scrape that asks the network or a
#: publish holds no connection while it waits on others (see `_holds_whole_run`).
LOCAL_STAGES = frozenset({"process", "validate", "consolidate"})

#: Checks a stage needs to pass before the run writes anything (bad config exits 2 up front).
CHECKS: dict[str, Callable[[Settings], None]] = {
    "publish": publish.check,
}

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STRICT = 0, 1, 2, 3


@dataclass
class RunReport:
    run_id: str
    partition: date
    results: list[StageResult] = field(default_factory=list)
    log_path: Path | None = None
    strict: bool = False
    #: live | record | replay: how this run asked the providers (replay sends nothing)
    http_mode: str = "live"
    #: the DuckDB warehouse file the run wrote to
    warehouse: Path | None = None

    @property
    def failed(self) -> list[StageResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def degraded(self) -> list[StageResult]:
        return [r for r in self.results if r.status in ("blocked", "partial")]

    @property
    def exit_code(self) -> int:
        if self.failed:
            return EXIT_FAILED
        if self.strict and self.degraded:
            return EXIT_STRICT
        return EXIT_OK

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results)

    @property
    def credits(self) -> int:
        return sum(r.credits for r in self.results)


def make_clock(now: datetime | None) -> Callable[[], datetime]:
    """The wall clock, or one that starts at `now` and advances in real time."""
    if now is None:
        return lambda: datetime.now(UTC)
    start = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - start)


def new_run_id(partition: date, at: datetime) -> str:
    return f"{partition:%Y%m%d}-{at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_partition(
    settings: Settings,
    request: RunRequest,
    *,
    on_result: Callable[[StageResult], None] = lambda _r: None,
    sleep: Callable[[float], None] = time.sleep,
    parse_pool: Executor | None = None,
    local_slots: AbstractContextManager[Any] | None = None,
) -> RunReport:
    """Run the request's stages on its partition. `parse_pool`: worker processes the process
    stage parses landed files in (a backfill shares one across its partitions); `local_slots`:
    held while the run's local stages run (a backfill's limit on its partitions doing
    warehouse work at once, `BackfillRequest.local_parallel`)."""
    done = complete.check(settings, request, make_clock(request.now)())
    if done is not None:
        return _answer_complete(settings, request, done, on_result)
    for stage in request.stages:
        CHECKS.get(stage, lambda _s: None)(settings)
    active = request.active_sources(settings)
    for source in active:  # bad options or a missing secret fail before any write
        sources.load(source)
    ctx = open_context(
        settings, request, sleep=sleep, parse_pool=parse_pool, local_slots=local_slots
    )
    ctx.http.check_secrets(active)
    report = RunReport(
        ctx.run_id,
        ctx.partition,
        strict=request.strict,
        http_mode=ctx.http.mode,
        warehouse=settings.warehouse.path,
    )
    logger, report.log_path = open_run_log(settings.home, ctx.run_id, ctx.http.redactor)
    logger.info(
        "run started",
        extra={
            "fields": {
                "run_id": ctx.run_id,
                "partition": str(ctx.partition),
                "http_mode": ctx.http.mode,
            }
        },
    )
    # From here on the log ends with the exit code the user gets, whatever ends the run.
    outcome: dict[str, Any] = {"exit_code": EXIT_FAILED}
    try:
        complete.forget(settings, ctx.partition, ctx.run_id)  # before the first write
        _lock_and_run(ctx, report, logger, on_result)
        outcome["exit_code"] = report.exit_code
    except BaseException as exc:
        outcome = {"exit_code": exit_code_of(exc), "error": ctx.http.redactor.text(str(exc))}
        raise
    finally:
        logger.info("run finished", extra={"fields": outcome})
        close_run_log(logger)
    return report


def exit_code_of(exc: BaseException) -> int:
    """The exit code the command line gives for an exception that ends a run."""
    if isinstance(exc, LineflowError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, SystemExit):  # SIGTERM (`Terminated`): 128 + the signal
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    return EXIT_FAILED


def _lock_and_run(
    ctx: RunContext,
    report: RunReport,
    logger: logging.Logger,
    on_result: Callable[[StageResult], None],
) -> None:
    store = open_state(ctx.settings)

    def lock_event(message: str) -> None:  # takeovers and lost locks: the log and the terminal
        logger.warning(message)
        print(f"lineflow: {message}", file=sys.stderr)

    locks = Locks(store, ctx.settings.locks, log=lock_event)
    ctx.log = logger.info
    ctx.work = WorkQueue(store, ctx.settings.work)
    with signals_raise(), ExitStack() as held:
        if _holds_whole_run(ctx):
            held.enter_context(ctx.warehouse.hold())
        _run_stages(ctx, locks, report, logger, on_result)
        complete.write(ctx, report.results)


def _holds_whole_run(ctx: RunContext) -> bool:
    """Whether the run keeps one warehouse connection from its first stage to its record: when
    no stage waits on another system (a scrape in replay sends nothing; no publish). Each
    session then costs no connect, schema check or checkpoint: the offline demo took 48 of
    them, about 0.9 s (a scrape records each landed file in a session of its own). Another
    process asking for the warehouse still gets it between sessions (`hold`). A scrape that
    asks the network keeps none open while it waits, so the file stays free for others."""
    stages = ctx.request.stages
    if "publish" in stages:
        return False
    return "scrape" not in stages or ctx.http.mode == "replay"


def _answer_complete(
    settings: Settings,
    request: RunRequest,
    done: complete.Complete,
    on_result: Callable[[StageResult], None],
) -> RunReport:
    """A rerun of a complete partition: the results a full rerun would report, from the record,
    with a run log of its own; the warehouse, the state store and the stages are not opened."""
    at = make_clock(request.now)()
    report = RunReport(
        new_run_id(request.date, at),
        request.date,
        strict=request.strict,
        http_mode=request.http_mode or settings.http.mode,
        warehouse=settings.warehouse.path,
    )
    report.results = complete.results_of(done, at)
    report.results[-1].notes.append(
        f"partition complete since run {done.run_id}: no stage had anything to do"
    )
    logger, report.log_path = open_run_log(settings.home, report.run_id, Redactor())
    logger.info(
        "run started",
        extra={"fields": {"run_id": report.run_id, "partition": str(request.date)}},
    )
    for result in report.results:
        _log_result(logger, result)
        on_result(result)
    logger.info(
        "run finished",
        extra={"fields": {"exit_code": report.exit_code, "complete_since": done.run_id}},
    )
    close_run_log(logger)
    return report


def _run_stages(
    ctx: RunContext,
    locks: Locks,
    report: RunReport,
    logger: logging.Logger,
    on_result: Callable[[StageResult], None],
) -> None:
    pipeline = ctx.settings.pipeline.name
    for group in stage_groups(list(ctx.request.stages)):
        with ExitStack() as held:
            # One run per stage and partition at a time, across every process of this home;
            # other partitions go on in parallel. The heartbeat keeps a long stage's lock alive.
            # Stage locks are taken in pipeline order, then the warehouse: the order every run
            # takes them in, so two runs never wait on each other crosswise. A backfill's slot
            # for local stages comes first: a partition waiting for one holds no lock.
            local = group[0] in LOCAL_STAGES
            if local and ctx.local_slots is not None:
                held.enter_context(ctx.local_slots)
            for stage in group:
                held.enter_context(locks.hold(pipeline, stage, ctx.partition, ctx.run_id))
            if local:  # one connection (one checkpoint) for the group
                held.enter_context(ctx.warehouse.hold())
            for stage in group:
                kill_point("after_lock_acquire")
                logger.debug(
                    f"{stage}: started", extra={"fields": {"stage": stage, "group": group}}
                )
                results = _run_stage(ctx, stage)
                ctx.warehouse.record_runs(r.row(ctx.run_id, ctx.partition) for r in results)
                kill_point("before_lock_release")
                for result in results:
                    report.results.append(result)
                    _log_result(logger, result)
                    on_result(result)
                if any(r.status == "failed" and r.phase != "scrape" for r in results):
                    return


def stage_groups(stages: list[str]) -> list[list[str]]:
    """Consecutive local stages run together (one warehouse session); the others alone."""
    groups: list[list[str]] = []
    for stage in stages:
        if stage in LOCAL_STAGES and groups and groups[-1][-1] in LOCAL_STAGES:
            groups[-1].append(stage)
        else:
            groups.append([stage])
    return groups


#: The log level of a processor's outcome: what needs a person's attention is not `info`.
RESULT_LEVELS = {"failed": logging.ERROR, "blocked": logging.WARNING, "partial": logging.WARNING}


def _log_result(logger: logging.Logger, result: StageResult) -> None:
    logger.log(
        RESULT_LEVELS.get(result.status, logging.INFO),
        f"{result.processor}: {result.status}",
        extra={
            "fields": {
                "processor": result.processor,
                "status": result.status,
                "figures": result.figures,
                "files": result.files,
                "rows": result.rows,
                "requests": result.requests,
                "error": result.error,
                # what the summary prints under the table: quarantined rows, the player
                # markets the gate failed and predict excluded, blocks, dead letters
                "notes": result.notes,
            }
        },
    )


def _run_stage(ctx: RunContext, stage: str) -> list[StageResult]:
    started = ctx.clock()
    try:
        return STAGES[stage](ctx)
    except (ConfigError, WarehouseBusy):  # bad input; the warehouse out of reach: the run ends
        raise
    except LineflowError as exc:
        message = ctx.http.redactor.text(str(exc))
    except Exception as exc:  # a bug or an I/O failure: the stage fails, the run reports it
        message = ctx.http.redactor.text(f"{type(exc).__name__}: {exc}")
    return [
        StageResult(
            stage,
            stage,
            status="failed",
            error=message,
            started_at=started,
            finished_at=ctx.clock(),
        )
    ]


def open_context(
    settings: Settings,
    request: RunRequest,
    *,
    sleep: Callable[[float], None] = time.sleep,
    parse_pool: Executor | None = None,
    local_slots: AbstractContextManager[Any] | None = None,
) -> RunContext:
    """The one way to open a run's context: a full run (`run_partition`, which adds its log and
    work queue and takes the locks) and work outside one (heal plans, backfill probes: no log,
    no locks) both start here."""
    clock = make_clock(request.now)
    return RunContext(
        settings=settings,
        request=request,
        run_id=new_run_id(request.date, clock()),
        partition=request.date,
        warehouse=open_warehouse(settings.warehouse, settings.locks.wait_s),
        landing=open_landing(settings.landing),
        http=HttpLayer(settings, clock, sleep, mode=request.http_mode),
        clock=clock,
        parse_pool=parse_pool,
        local_slots=local_slots,
    )


def heal_partition(
    settings: Settings, request: RunRequest, *, dry_run: bool
) -> list[dict[str, Any]]:
    """Player markets of the request's partition that self-heal would regenerate; unless
    `dry_run`, regenerate them (the predict stage, with its run_history row and self_heal_log)."""
    from lineflow.pipeline.stages import predict as predict_stage

    config = settings.pipeline.predict
    if config is None or not open_warehouse(settings.warehouse).exists():
        return []
    ctx = open_context(settings, request)
    clock = ctx.clock
    work = predict_stage.plan(ctx, config)
    if work is None:
        return []
    old_enough = clock() - timedelta(minutes=config.heal.min_age_minutes)
    todo = work["todo"].filter(
        (pl.col("reason") == "repaired")
        | ((pl.col("reason") == "lines_changed") & (pl.col("active_created") <= old_enough))
    )
    units = todo.select("player_key", "player_name", "market", "reason").to_dicts()
    if units and not dry_run:
        run_partition(settings, request.replace(stages=("predict",)))
    return units
