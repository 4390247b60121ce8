"""Historical backfill sweeps: one resumable command over a range of partitions.

A backfill is a persisted manifest (in the state store) of partitions, each run like
`lineflow run date=D snapshot=S only=[...]`: the historical request plan lands, then process and
consolidate run as for live data. Every partition's progress is written as it happens, so a
crash or Ctrl-C leaves a manifest that `lineflow backfill resume ID` continues.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lineflow import sources
from lineflow.config import Settings, partition_date
from lineflow.core.allocator import give_back_freed_memory
from lineflow.core.errors import ConfigError, LineflowError
from lineflow.pipeline.request import RunRequest, snapshot_instant
from lineflow.pipeline.runner import RunReport, open_context, run_partition
from lineflow.pipeline.stages import process
from lineflow.sources import Cost, Pricing
from lineflow.state import StateStore, open_state, upsert_sql
from lineflow.state.locks import pid_alive, this_host
from lineflow.state.work import WorkQueue
from lineflow.warehouse import open_warehouse

Reprocess = Literal["missing", "failed", "all"]
#: Partition states. `complete` partitions are skipped by later `reprocess=missing` backfills.
PENDING, RUNNING, COMPLETE, FAILED, SKIPPED = "pending", "running", "complete", "failed", "skipped"


class BackfillRequest(BaseModel):
    """What a backfill sweeps and how (the `backfill` command builds it from its keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date
    sources: list[str] = ["odds_api"]
    reprocess: Reprocess = "missing"
    snapshot: str = "18:00Z"
    fallback_snapshots: list[str] = ["16:00Z", "20:00Z"]
    #: Instead of a fixed snapshot: N minutes before the slate's first tip-off (learned from the
    #: historical events list at `snapshot`), e.g. closing lines with 5.
    minutes_before_tip: int | None = Field(None, ge=0, le=1440)
    #: Partitions at a time. Each is a chain of steps (read, parse, store, validate,
    #: consolidate) waiting on each other, on the parse worker and on the warehouse; more in
    #: flight keep a 2-core machine's cores busy: a season's processing took 60.2 s with two,
    #: 53.7 s with three and 4.5 % less again with four, for about 5 MB more memory each
    #: (docs/benchmarks.md).
    max_parallel: int = Field(4, ge=1, le=32)
    #: Processes parsing landed files for the partitions (0: each partition parses in its own
    #: thread). One keeps up with the warehouse, which takes one partition's writes at a time:
    #: over a season two were 6 % faster for 22 % more memory (docs/benchmarks.md).
    parse_workers: int = Field(1, ge=0, le=32)
    #: Of the partitions in flight, how many run their local stages (process, validate,
    #: consolidate) at once in this process. Their warehouse work goes one session at a time
    #: and the parse worker reads ahead of them, so two keep both cores busy; each one more
    #: holds another partition's rows meanwhile. `max_parallel` still sets how many scrape
    #: at once (docs/benchmarks.md, round seven).
    local_parallel: int = Field(2, ge=1, le=32)
    dry_run: bool = False
    order: Literal["asc", "desc"] = "asc"
    games_per_day: int = Field(10, ge=1, le=30)  # for dry-run estimates only

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date(cls, value: object) -> date:
        return partition_date(value)  # `run date=`'s own check: 20260101 is no date here either

    @model_validator(mode="after")
    def _range(self) -> BackfillRequest:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if (self.end - self.start).days > 3660:
            raise ValueError("a range of more than ten years")
        return self

    @property
    def manifest_snapshot(self) -> str:
        """How the manifest names this backfill's snapshot (and matches earlier backfills)."""
        if self.minutes_before_tip is not None:
            return f"tip-{self.minutes_before_tip}m"
        return self.snapshot

    def partitions(self) -> list[date]:
        days = [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]
        return days[::-1] if self.order == "desc" else days


@dataclass(frozen=True)
class Estimate:
    """What a backfill's partitions cost each of its sources, by the pricing it declares
    (None: the source declares none, so neither its credits nor its requests are known)."""

    partitions: int
    costs: dict[str, tuple[Pricing, Cost] | None]


def to_skip(request: BackfillRequest, earlier: dict[str, str]) -> dict[str, str]:
    """Partitions this backfill leaves alone, with the reason (Airflow's none/failed/all)."""
    if request.reprocess == "all":
        return {}
    skipped = {}
    for day, status in earlier.items():
        if status == COMPLETE:
            skipped[day] = "already complete (reprocess=all to redo)"
        elif request.reprocess == "missing":
            skipped[day] = "failed before (reprocess=failed to retry)"
    return skipped


def check(settings: Settings, request: BackfillRequest) -> None:
    """The request against the config, before anything is written: configured sources, each
    with a historical endpoint when the backfill scrapes, and a snapshot that parses."""
    scrapes = "scrape" in settings.pipeline.stages  # else: reprocess what has landed
    for name in request.sources:
        if name not in settings.sources:
            raise ConfigError(
                f"sources: unknown source {name!r} (known: {', '.join(settings.sources)})"
            )
        if scrapes and not sources.load(settings.sources[name]).supports_history:
            raise ConfigError(
                f"sources: {name} has no historical endpoint to backfill from (to reprocess "
                "its landed files only: pipeline.stages=[process,validate,consolidate])"
            )
    snapshot_instant(request.snapshot, request.start)


def estimate(request: BackfillRequest, settings: Settings, todo: list[date]) -> Estimate:
    """Requests and credits before anything is spent: `games_per_day` games a partition,
    priced by each source's declared pricing."""
    costs: dict[str, tuple[Pricing, Cost] | None] = {}
    for name in request.sources:
        pricing = sources.load(settings.sources[name]).pricing
        if pricing is None:
            costs[name] = None
            continue
        day = pricing.partition(request.games_per_day)
        costs[name] = (pricing, Cost(len(todo) * day.requests, len(todo) * day.credits))
    return Estimate(len(todo), costs)


#: backfill_owners' columns, in the order `own` writes them.
OWNER_COLUMNS = ("backfill_id", "host", "pid", "started_at")


class Manifest:
    """The persisted state of backfills, in the state store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        store.ensure("backfill")

    def create(self, request: BackfillRequest) -> str:
        backfill_id = f"bf-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"
        now = _now()
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO backfills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', NULL)",
                (
                    backfill_id,
                    now,
                    str(request.start),
                    str(request.end),
                    ",".join(request.sources),
                    request.manifest_snapshot,
                    ",".join(request.fallback_snapshots),
                    request.reprocess,
                    request.order,
                ),
            )
            con.executemany(
                "INSERT INTO backfill_partitions (backfill_id, slate_date, status, updated_at) "
                "VALUES (?, ?, 'pending', ?)",
                [(backfill_id, str(d), now) for d in request.partitions()],
            )
        return backfill_id

    def start(self, request: BackfillRequest, skipped: dict[str, str]) -> str:
        """A new backfill of the request, its `skipped` partitions (`to_skip`) marked so."""
        backfill_id = self.create(request)
        for reason in set(skipped.values()):
            self.skip(backfill_id, [d for d, r in skipped.items() if r == reason], reason)
        return backfill_id

    def request(self, backfill_id: str) -> BackfillRequest:
        with self.store.connect() as con:
            row = con.execute("SELECT * FROM backfills WHERE id = ?", (backfill_id,)).fetchone()
        if row is None:
            raise ConfigError(
                f"backfill {backfill_id!r}: no such backfill (see `lineflow backfill status`)"
            )
        return BackfillRequest.model_validate(
            {
                "start": row["start_date"],
                "end": row["end_date"],
                "sources": row["sources"].split(","),
                **_snapshot_fields(row["snapshot"]),
                "fallback_snapshots": [s for s in row["fallback_snapshots"].split(",") if s],
                "reprocess": row["reprocess"],
                "order": row["sort_order"],
            }
        )

    def partitions(self, backfill_id: str) -> list[dict]:
        with self.store.connect() as con:
            rows = con.execute(
                "SELECT * FROM backfill_partitions WHERE backfill_id = ? ORDER BY slate_date",
                (backfill_id,),
            ).fetchall()
        return [dict(r) for r in rows]

    def earlier_outcomes(self, request: BackfillRequest) -> dict[str, str]:
        """slate_date -> best earlier status (complete beats failed) for the same sources and
        snapshot, across every backfill so far."""
        with self.store.connect() as con:
            rows = con.execute(
                "SELECT p.slate_date, "
                "max(CASE WHEN p.status = 'complete' THEN 1 ELSE 0 END) AS ok, "
                "max(CASE WHEN p.status = 'failed' THEN 1 ELSE 0 END) AS bad "
                "FROM backfill_partitions p "
                "JOIN backfills b ON b.id = p.backfill_id "
                "WHERE b.sources = ? AND b.snapshot = ? GROUP BY p.slate_date",
                (",".join(request.sources), request.manifest_snapshot),
            ).fetchall()
        return {r[0]: COMPLETE if r["ok"] else FAILED for r in rows if r["ok"] or r["bad"]}

    def skip(self, backfill_id: str, days: list[str], reason: str) -> None:
        with self.store.transaction() as con:
            con.executemany(
                "UPDATE backfill_partitions SET status = 'skipped', last_error = ?, "
                "updated_at = ? WHERE backfill_id = ? AND slate_date = ?",
                [(reason, _now(), backfill_id, d) for d in days],
            )

    def update(self, backfill_id: str, day: date, **fields: object) -> None:
        fields["updated_at"] = _now()
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.store.transaction() as con:
            con.execute(
                f"UPDATE backfill_partitions SET {assignments} "
                "WHERE backfill_id = ? AND slate_date = ?",
                (*fields.values(), backfill_id, str(day)),
            )

    def start_attempt(self, backfill_id: str, day: date) -> None:
        with self.store.transaction() as con:
            con.execute(
                "UPDATE backfill_partitions SET status = 'running', attempts = attempts + 1, "
                "updated_at = ? WHERE backfill_id = ? AND slate_date = ?",
                (_now(), backfill_id, str(day)),
            )

    def own(self, backfill_id: str) -> None:
        """This process runs the backfill now (a start or a resume): it is running, and its
        owner is this host's pid until it finishes."""
        with self.store.transaction() as con:
            con.execute("UPDATE backfills SET status = 'running' WHERE id = ?", (backfill_id,))
            con.execute(
                upsert_sql("backfill_owners", OWNER_COLUMNS, ("backfill_id",)),
                (backfill_id, this_host(), os.getpid(), _now()),
            )

    def release_running(self, backfill_id: str) -> None:
        """After an interruption, partitions that were running go back to pending."""
        with self.store.transaction() as con:
            con.execute(
                "UPDATE backfill_partitions SET status = 'pending', updated_at = ? "
                "WHERE backfill_id = ? AND status = 'running'",
                (_now(), backfill_id),
            )

    def finish(self, backfill_id: str) -> str:
        parts = self.partitions(backfill_id)
        status = (
            "complete"
            if all(p["status"] in (COMPLETE, SKIPPED) for p in parts)
            else ("failed" if any(p["status"] == FAILED for p in parts) else "incomplete")
        )
        with self.store.transaction() as con:
            con.execute(
                "UPDATE backfills SET status = ?, finished_at = ? WHERE id = ?",
                (status, _now(), backfill_id),
            )
        return status

    def list(self) -> list[dict]:
        """Every backfill, newest first, its `status` as `status()` tells it."""
        with self.store.connect() as con:
            rows = con.execute(
                "SELECT b.*, sum(CASE WHEN p.status = 'complete' THEN 1 ELSE 0 END) AS complete, "
                "count(*) AS total, "
                "o.host AS owner_host, o.pid AS owner_pid "
                "FROM backfills b JOIN backfill_partitions p ON p.backfill_id = b.id "
                "LEFT JOIN backfill_owners o ON o.backfill_id = b.id "
                "GROUP BY b.id, o.host, o.pid ORDER BY b.created_at DESC"
            ).fetchall()
        return [{**dict(r), "status": _status(dict(r))} for r in rows]

    def status(self, backfill_id: str) -> str:
        """`running`, `complete`, `failed`, `incomplete`, or `interrupted (...)` when the
        process running it is gone (killed outright: it could not record its end)."""
        self.request(backfill_id)  # an unknown id is one line
        return next(b["status"] for b in self.list() if b["id"] == backfill_id)


def _status(row: dict) -> str:
    pid = row["owner_pid"]
    if row["status"] != RUNNING or pid is None or row["owner_host"] != this_host():
        return str(row["status"])  # another host's pid cannot be checked from here
    if pid_alive(pid):
        return RUNNING
    return f"interrupted (owner {pid} is gone; resume with lineflow backfill resume {row['id']})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class PartitionOutcome:
    day: date
    status: str
    snapshot: str | None = None
    requests: int = 0
    credits: int = 0
    rows: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def _snapshot_fields(stored: str) -> dict[str, object]:
    if stored.startswith("tip-") and stored.endswith("m"):
        return {"minutes_before_tip": int(stored[4:-1])}
    return {"snapshot": stored}


def first_tip(settings: Settings, request: BackfillRequest, day: date) -> datetime | None:
    """The slate's first tip-off, from the historical events list at `request.snapshot`
    (the call lands like any other, so a rerun asks nothing)."""
    from lineflow.landing import pass_id
    from lineflow.pipeline.runner import open_context
    from lineflow.pipeline.stages.base import StageResult
    from lineflow.pipeline.stages.scrape import PassFetch

    probe_request = RunRequest.from_settings(settings, date=day, snapshot=request.snapshot)
    probe = probe_request.snapshot_at
    assert probe is not None
    earliest: datetime | None = None
    for name in request.sources:
        source = settings.sources[name]
        loaded = sources.load(source)
        if not loaded.lists_events:
            continue
        ctx = open_context(settings, probe_request)
        fetch = PassFetch(ctx, source, pass_id("history", probe), StageResult(name, "scrape"))
        try:
            events = loaded.list_events(fetch, day, probe)
        finally:
            fetch.close()
        tip = events["commence_time"].min()  # None: no events listed
        if isinstance(tip, datetime) and (earliest is None or tip < earliest):
            earliest = tip
    return earliest


def run_one(
    settings: Settings,
    request: BackfillRequest,
    day: date,
    refresh: bool,
    parse_pool: Executor | None = None,
    local_slots: AbstractContextManager[Any] | None = None,
) -> PartitionOutcome:
    """Run one partition at the snapshot, falling back to later/earlier ones when empty;
    `local_slots`: the backfill's limit on partitions in their local stages (`run_partition`)."""
    outcome = PartitionOutcome(day, FAILED)
    snapshots = [request.snapshot, *request.fallback_snapshots]
    if request.minutes_before_tip is not None:
        tip = first_tip(settings, request, day)
        if tip is None:
            outcome.status = COMPLETE
            outcome.notes.append(f"no games listed at {request.snapshot}: an empty day")
            return outcome
        at = tip - timedelta(minutes=request.minutes_before_tip)
        snapshots = [at.strftime("%Y-%m-%dT%H:%M:%SZ")]
        outcome.notes.append(f"first tip-off {tip:%H:%M}Z")
    for snapshot in snapshots:
        partition = RunRequest.from_settings(
            settings, date=day, snapshot=snapshot, only=request.sources, refresh=refresh
        )
        report = run_partition(settings, partition, parse_pool=parse_pool, local_slots=local_slots)
        give_back_freed_memory()  # a partition's frames and query results: lineflow.core.allocator
        outcome.requests += report.requests
        outcome.credits += report.credits
        # A reprocessing backfill (no scrape stage) reads what landed: no snapshot is used.
        outcome.snapshot = snapshot if "scrape" in settings.pipeline.stages else None
        rows = _rows(report)
        outcome.rows = rows
        if report.failed:
            outcome.status = FAILED
            outcome.error = report.failed[0].error or report.failed[0].status
            return outcome
        # Files that could not be loaded (dead-lettered, retried later) leave the partition
        # complete but are named: a backfill's table is where its user looks.
        outcome.notes += [f"{r.processor}: {r.error}" for r in report.results if r.error]
        if not _found_nothing(report):
            outcome.status = COMPLETE
            return outcome
        outcome.notes.append(f"no events at {snapshot}")
    outcome.status = COMPLETE
    outcome.notes.append("no games found at any snapshot: an empty day")
    return outcome


def _rows(report: RunReport) -> int:
    return max((r.rows for r in report.results if r.processor == "consolidate"), default=0)


def _found_nothing(report: RunReport) -> bool:
    scrapes = [r for r in report.results if r.phase == "scrape" and r.status != "skipped"]
    return bool(scrapes) and all(
        any(note.startswith("no events") for note in r.notes) for r in scrapes
    )


class Cluster(Protocol):
    """Somewhere else to run partitions (`pipeline/distributed.py`): `partitions(...)` is a
    block in which `submit(day)` starts a partition and returns its future outcome."""

    def partitions(
        self, settings: Settings, request: BackfillRequest, refresh: bool
    ) -> AbstractContextManager[Callable[[date], Future[PartitionOutcome]]]: ...


def execute(
    settings: Settings,
    manifest: Manifest,
    backfill_id: str,
    request: BackfillRequest,
    *,
    on_done: Callable[[PartitionOutcome], None] = lambda _o: None,
    stop: threading.Event | None = None,
    cluster: Cluster | None = None,
) -> str:
    """Run the manifest's pending and failed partitions, the request's `max_parallel` at a
    time, their landed files parsed by its `parse_workers` processes (0: in the partitions'
    threads). Worker processes are spawned: the calling program's main module must be
    import-safe (`if __name__ == "__main__":`), as the `lineflow` command's is. With a
    `cluster`, each partition is a task on its nodes instead (`pipeline/distributed.py`);
    this process keeps the manifest either way."""
    stop = stop or threading.Event()
    manifest.own(backfill_id)
    todo = [
        date.fromisoformat(p["slate_date"])
        for p in manifest.partitions(backfill_id)
        if p["status"] in (PENDING, FAILED, RUNNING)  # running: its process died
    ]
    if request.order == "desc":
        todo.reverse()
    if not todo:  # nothing to run: no warehouse opened, no parse worker started for nothing
        return manifest.finish(backfill_id)
    refresh = request.reprocess == "all"
    pending: set[Future[PartitionOutcome]] = set()
    queue: Iterator[date] = iter(todo)
    try:
        with ExitStack() as stack:
            if cluster is None:
                submit = stack.enter_context(
                    _local_partitions(settings, request, refresh, todo, stop)
                )
            else:
                submit = stack.enter_context(cluster.partitions(settings, request, refresh))
            futures: dict[Future[PartitionOutcome], date] = {}
            for day in _take(queue, request.max_parallel):
                manifest.start_attempt(backfill_id, day)
                future = submit(day)
                futures[future] = day
                pending.add(future)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    day = futures.pop(future)
                    try:
                        outcome = future.result()
                    except LineflowError as exc:
                        outcome = PartitionOutcome(day, FAILED, error=str(exc))
                    manifest.update(
                        backfill_id,
                        day,
                        status=outcome.status,
                        requests=outcome.requests,
                        credits=outcome.credits,
                        rows=outcome.rows,
                        snapshot_used=outcome.snapshot,
                        last_error=outcome.error,
                        note="; ".join(outcome.notes) or None,
                    )
                    on_done(outcome)
                    if stop.is_set():
                        continue
                    for next_day in _take(queue, 1):
                        manifest.start_attempt(backfill_id, next_day)
                        nxt = submit(next_day)
                        futures[nxt] = next_day
                        pending.add(nxt)
    finally:
        manifest.release_running(backfill_id)
    return manifest.finish(backfill_id)


@contextmanager
def _local_partitions(
    settings: Settings,
    request: BackfillRequest,
    refresh: bool,
    days: list[date],
    stop: threading.Event,
) -> Iterator[Callable[[date], Future[PartitionOutcome]]]:
    """`submit(day)` -> the future outcome of the partition, run in a thread of this process.
    `days`: the partitions it will be asked for, in order, whose landed files are sent to the
    parse pool ahead of their runs (`_send_ahead`) until `stop` is set."""
    # The partitions share one warehouse connection: one checkpoint every 64MB of log, not
    # one per partition (another process asking for the warehouse still gets it).
    warehouse = open_warehouse(settings.warehouse, settings.locks.wait_s)
    with (
        warehouse.hold(),
        _parse_pool(settings, request.parse_workers, request.max_parallel) as parsers,
        ThreadPoolExecutor(max_workers=request.max_parallel) as pool,
        _sending_ahead(settings, request, refresh, days, parsers, stop),
    ):
        slots = threading.BoundedSemaphore(request.local_parallel)

        def run(day: date) -> PartitionOutcome:
            try:
                return run_one(settings, request, day, refresh, parsers, slots)
            finally:
                if parsers is not None:
                    parsers.forget(day)

        yield lambda day: pool.submit(run, day)


@contextmanager
def _parse_pool(
    settings: Settings, workers: int, depth: int = 1
) -> Iterator[process.Parsers | None]:
    """Worker processes for the partitions' parsing when the backfill processes files: the
    partitions' threads then stage and validate while the workers parse (parsing holds the
    GIL). Spawned, not forked: the parent holds a DuckDB connection and threads, and polars'
    thread pool does not survive a fork. Started as the pool opens, not on the first parse:
    a worker's start (a fresh interpreter importing polars, the sources and the parse code)
    then overlaps the partitions' own setup instead of delaying their first batch. Up to
    `depth` partitions' files are parsed ahead of their runs (`process.Parsers`)."""
    if workers < 1 or "process" not in settings.pipeline.stages:
        yield None
        return
    modules = sorted({s.module for s in settings.sources.values() if s.enabled and s.module})
    pool = process.Parsers(
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=process.start_worker,
            initargs=(modules, os.getpid()),
        ),
        depth=depth,
    )
    try:
        for _ in range(workers):  # a spawn pool starts a process when a task finds none idle
            pool.submit(os.getpid)
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _sending_ahead(
    settings: Settings,
    request: BackfillRequest,
    refresh: bool,
    days: list[date],
    parsers: process.Parsers | None,
    stop: threading.Event,
) -> Iterator[None]:
    """A thread sending the partitions' dropped files to the parse pool ahead of their runs,
    in their order, when the backfill reprocesses what has landed (its first stage is
    `process`: a scrape lands the files later) at a fixed snapshot (the run's request is
    then known now)."""
    first = list(settings.pipeline.stages[:1])
    if parsers is None or first != ["process"] or request.minutes_before_tip is not None:
        yield
        return
    done = threading.Event()
    sender = threading.Thread(
        target=_send_ahead,
        args=(settings, request, refresh, days, parsers, lambda: stop.is_set() or done.is_set()),
        name="lineflow-send-ahead",
    )
    sender.start()
    try:
        yield
    finally:
        done.set()
        parsers.close()  # a sender waiting for room ends
        sender.join()


def _send_ahead(
    settings: Settings,
    request: BackfillRequest,
    refresh: bool,
    days: list[date],
    parsers: process.Parsers,
    stopped: Callable[[], bool],
) -> None:
    """Each partition's dropped files sent to the parse pool as its run would send them
    (`process.send_ahead`). Files in the manifest are not sent (a complete partition's are
    all there), so a rerun parses nothing ahead."""
    store = open_state(settings)
    for day in days:
        if stopped():
            return
        if not parsers.ahead(day):
            continue
        sent: dict[str, process.SentAhead] = {}
        try:
            run = RunRequest.from_settings(
                settings, date=day, snapshot=request.snapshot, only=request.sources, refresh=refresh
            )
            ctx = open_context(settings, run, parse_pool=parsers)
            ctx.work = WorkQueue(store, settings.work)
            sent = process.send_ahead(ctx, parsers)
        except Exception:  # noqa: BLE001 - its run reads and sends its files itself, and meets it
            sent = {}
        finally:
            parsers.sent(day, sent)


def _take(queue: Iterator[date], n: int) -> list[date]:
    out = []
    for _ in range(n):
        try:
            out.append(next(queue))
        except StopIteration:
            break
    return out


def credits_estimate_text(est: Estimate) -> str:
    """One line: partitions, requests and each priced source's credits, with how they come
    about; sources that declare no pricing are named."""
    priced = [cost for cost in est.costs.values() if cost is not None]
    requests = sum(cost.requests for _, cost in priced)
    text = f"{est.partitions} partitions, about {requests:,} requests"
    for pricing, cost in priced:
        text += f" and {cost.credits:,} {pricing.unit}"
        text += f" ({pricing.basis})" if pricing.basis else ""
    unpriced = [name for name, cost in est.costs.items() if cost is None]
    if unpriced:
        text += f"; {', '.join(unpriced)}: no pricing declared (requests and credits not counted)"
    return text
