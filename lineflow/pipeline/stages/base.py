"""What every stage gets (the run's context) and gives back (one result per processor)."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:  # a parse worker imports this module: not the HTTP layer, nor the warehouse
    from lineflow.config import Settings
    from lineflow.http import HttpLayer
    from lineflow.landing import Landing
    from lineflow.pipeline.request import RunRequest
    from lineflow.state.work import WorkQueue
    from lineflow.warehouse import DuckDBWarehouse
    from lineflow.warehouse.duckdb import RunRow

#: Statuses a processor can end with. `blocked` is its own state: not failed, not "0 rows".
STATUSES = ("success", "partial", "blocked", "failed", "skipped")


@dataclass(frozen=True)
class StagedRows:
    """Rows process staged for a partition that had none staged before: the partition's
    whole staging while its staging fingerprint is still `fingerprint`, which validate then
    judges without reading them back (15 ms of a partition's CPU)."""

    fingerprint: tuple[str, int]
    rows: pl.DataFrame


@dataclass(frozen=True)
class Events:
    """A source's events of the partition (EVENT_COLUMNS) and the listings (path, endpoint)
    they were parsed from: new listings make them out of date. `failed`: the listings that
    could not be read or parsed, path -> (status, error) as the ledger records them, so
    that processing a listing needs no second parse."""

    listings: tuple[tuple[str, str], ...]
    frame: pl.DataFrame
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Handover:
    """What a stage worked out that a later stage of the same run needs, by name."""

    #: source -> its landed files of the partition, read from the manifest once a run (process
    #: and validate each ask several times a partition) until process adds dropped files
    landed: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: source -> the partition's events it listed (process parses with them, validate counts
    #: the games)
    events: dict[str, Events] = field(default_factory=dict)
    #: from process to validate, taken by validate
    staged: StagedRows | None = None
    #: from validate to consolidate: the staging fingerprint validate judged, taken by
    #: consolidate when process, validate and consolidate run in turn (`in_turn`)
    judged: tuple[str, int] | None = None


@dataclass
class RunContext:
    settings: Settings
    #: What this run was asked to do: its partition, stages, sources, snapshot, refresh.
    request: RunRequest
    run_id: str
    partition: date
    warehouse: DuckDBWarehouse
    landing: Landing
    http: HttpLayer
    clock: Callable[[], datetime]
    log: Callable[[str], None] = print
    #: Attempts and dead letters of units of work (the runner always sets it).
    work: WorkQueue | None = None
    #: What one stage worked out and a later one of the same run needs.
    handover: Handover = field(default_factory=Handover)
    #: Worker processes the process stage parses landed files in (a backfill's; None: here).
    parse_pool: Executor | None = None
    #: Slots for the local stages (process, validate, consolidate) shared by a backfill's
    #: partitions in this process (`BackfillRequest.local_parallel`); None: no limit.
    local_slots: AbstractContextManager[Any] | None = None


def in_turn(ctx: RunContext, *stages: str) -> bool:
    """Whether `stages` run one right after another in this run, each once. Consecutive local
    stages run under one holding of their stage locks on the partition (`runner.stage_groups`):
    with process's lock among them, no other run stages files for the partition meanwhile, so
    the staging one of them read is still the partition's when the next starts."""
    asked = ctx.request.stages
    if any(asked.count(stage) != 1 for stage in stages):
        return False
    at = asked.index(stages[0])
    return asked[at : at + len(stages)] == stages


class Shipped:
    """A polars frame on its way back from a parse worker, as LZ4-compressed Arrow IPC bytes:
    pickling the frame itself cost six times as much (34 ms against 6 ms for 28k rows;
    docs/benchmarks.md). Compressed, a partition's rows are 1.8 MB, not 16 MB: taking 16 MB
    off the pipe cost the receiving process 29 ms of CPU, decompressing 4 ms (the worker pays
    9 ms more to compress). polars' own string layout (`CompatLevel.newest`): Arrow's older one
    took more memory on the way back."""

    __slots__ = ("data",)

    def __init__(self, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.write_ipc(buffer, compression="lz4", compat_level=pl.CompatLevel.newest())
        self.data = buffer.getvalue()

    def __getstate__(self) -> bytes:
        return self.data

    def __setstate__(self, data: bytes) -> None:
        self.data = data

    def frame(self) -> pl.DataFrame:
        return pl.read_ipc(self.data)


@dataclass
class StageResult:
    processor: str  # e.g. "scrape:odds_api", "process:odds_api", "consolidate"
    phase: str  # the stage name
    status: str = "success"
    files: int = 0
    rows: int = 0
    requests: int = 0
    credits: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: What the processor's figures count, each key naming its unit (`files_landed`,
    #: `rows_staged`, `player_markets_excluded`, ...): the same keys and numbers `status` and
    #: `health` show for the partition (docs/health.md, "What the figures count").
    figures: dict[str, int] = field(default_factory=dict)

    def row(self, run_id: str, partition: date) -> RunRow:
        from lineflow.warehouse.duckdb import RunRow

        assert self.started_at is not None and self.finished_at is not None
        return RunRow(
            run_id=run_id,
            processor=self.processor,
            phase=self.phase,
            slate_date=partition,
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            files=self.files,
            rows=self.rows,
            requests=self.requests,
            error=self.error,
        )

    @property
    def seconds(self) -> float:
        if self.started_at is None or self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()
