"""process: parse every landed file of the partition not yet in the ledger into staging.

Driven by the ledger of landed files, never by "this date already succeeded": a file that lands
after an earlier run is processed by the next one. A file that cannot be parsed is recorded with
its reason and the others go on. A file dropped into the landing zone without a manifest row is
read once: its manifest row, staged rows and ledger row are written in one transaction. The
warehouse sessions hold inserts only: parsing, identities and row numbers happen before them,
in parse workers when the run has a pool.
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import polars as pl

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.core.faults import kill_point
from lineflow.core.identity import Identity, resolve
from lineflow.core.schema import PROP_LINES, conform, empty_prop_lines, number_rows
from lineflow.landing import Landing, LandingPath, LandingZone, check_sidecar, file_id
from lineflow.pipeline.stages.base import Events, RunContext, Shipped, StagedRows, StageResult
from lineflow.sources import Source
from lineflow.sources.base import (
    EVENT_COLUMNS,
    BatchParser,
    FileMeta,
    ParseContext,
    ParseError,
    ProviderOutage,
    one_line,
)
from lineflow.state.work import WorkItem, is_permanent, reason
from lineflow.warehouse.duckdb.rows import LANDED_SCHEMA, StagedFile, landed_frame

#: Files parsed together (one polars pass per endpoint) and staged in one transaction, and the
#: bytes of their bodies: a commit per file cost more than parsing it, and a polars pass per
#: file more than walking its JSON (docs/benchmarks.md).
BATCH_FILES = 500
BATCH_BYTES = 64 * 1024 * 1024
#: How often a parse worker looks whether its backfill is still there.
WORKER_WATCH_S = 0.5


def run(ctx: RunContext) -> list[StageResult]:
    results = []
    active = ctx.request.active_sources(ctx.settings)
    with ctx.warehouse.session():  # one wait for the warehouse before the first file is sent
        _, before = ctx.warehouse.staging_fingerprint(ctx.partition)
        _read_manifests(ctx, active)
    staged: list[pl.DataFrame] | None = [] if before == 0 else None
    batches = _Batches(ctx, staged)
    counted: list[tuple[StageResult, list[str]]] = []
    for source in active:
        result = StageResult(f"process:{source.name}", "process", started_at=ctx.clock())
        results.append(result)
        loaded, failures = sources.load(source), list[str]()
        if not _process_dropped_files(ctx, loaded, result, batches, failures):
            _process_source(ctx, loaded, result, batches, failures)
        counted.append((result, failures))
    batches.flush()  # every source's batches in one transaction
    for result, failures in counted:
        if failures:
            result.status = "partial"
            result.error = (
                f"{len(failures)} of {result.files} files not loaded; first: {failures[0]}"
            )
        result.figures = {"files_processed": result.files, "rows_staged": result.rows}
        result.finished_at = ctx.clock()
    if staged is not None:
        rows = pl.concat([empty_prop_lines(), *staged]).select(*PROP_LINES)
        # Kept with the staging fingerprint they are: rows another run stages before validate
        # reads them are then not missed.
        fingerprint = ctx.warehouse.staging_fingerprint(ctx.partition)
        ctx.handover.staged = StagedRows(fingerprint, rows)
    return results


def _process_dropped_files(
    ctx: RunContext,
    source: Source,
    result: StageResult,
    batches: _Batches,
    failures: list[str],
) -> bool:
    """Files put into the landing zone by hand (restored from a bucket, say), which have no
    manifest row, are read once: each batch is described (content id, how it was fetched) and
    parsed in one go, in a parse worker when there is a pool, and its manifest rows and staged
    rows are written in one transaction. The partition's event listings go first (parsing the
    other files needs their events), in a trip of their own. Nothing is read inside a
    warehouse session. A backfill may have sent the same files to its parse pool before this
    run began (`Parsers.take`): their results are taken instead when this run finds the very
    same files to read.

    As if the files were registered first and then processed: a file whose content the ledger
    already has for the partition, or another file of this run has, joins the manifest and is
    not staged again; a file whose content is waiting for a retry or dead-lettered joins the
    manifest and waits. A file that cannot be described (a sidecar that does not say how it
    was fetched, a directory where a file belongs, a read error) is that file's failure, never
    the partition's: it is not registered, its error's family decides dead letter or retry
    (work kind "file", keyed by its path), and it is not looked at again until replayed or
    due.

    Returns whether the source's manifest rows of the partition are all processed now: they
    were all written here (there were none before) and none waits for a retry. The query for
    unprocessed files then has nothing to find (a file landing meanwhile is the next run's, as
    one landing just after that query would be)."""
    dropped = _dropped(ctx, source)
    if dropped.waiting:
        result.notes.append(
            f"{dropped.waiting} dropped files waiting for a retry or in the dead letters"
        )
    if not dropped.new:
        return False
    ctx.handover.landed.pop(source.name, None)  # the manifest grows here
    known = dropped.known
    staging = _Staging(ctx, result, dropped.items, batches, failures)
    sent = _taken_ahead(ctx, source.name, dropped)
    if sent is not None:
        listed, parsed = sent.listed, sent.parsed(ctx.run_id)
    else:
        pool = _pool(ctx)
        listed = next(_trips(pool, _land_listings, [_listings_call(ctx, source, dropped)]))
        parsed = _trips(pool, _land_batch, _batch_calls(ctx, source, dropped, listed[3]))
    landed, unreadable, outcomes, events = listed
    ctx.handover.events[source.name] = events
    staging.hold(landed, unreadable, outcomes)  # staged with the first batch: one session
    for landed, unreadable, outcomes, rows in parsed:
        staging.stage(landed, unreadable, outcomes, rows)
    staging.stage(landed_frame([]), [], [], pl.DataFrame())  # what is held, if no batch came
    # The manifest as it is now, without reading it back (validate asks for it): a path
    # already there keeps its row, as the insert leaves it.
    manifest = pl.concat([known, *staging.registered]).unique("path", keep="first")
    ctx.handover.landed[source.name] = manifest.sort("path")
    return known.is_empty() and not staging.pending


@dataclass(frozen=True)
class _Dropped:
    """A source's files of the partition in the landing zone without a manifest row: `new`
    to read (the event listings among them, then the others), `waiting` left for a retry or
    dead-lettered; with the manifest rows they were told apart by (`known`), the listings
    among those (`old`: path, endpoint) and the partition's file work items (`items`)."""

    known: pl.DataFrame
    items: dict[str, WorkItem]
    new: list[LandingPath]
    waiting: int
    listings: list[LandingPath]
    others: list[LandingPath]
    old: tuple[tuple[str, str], ...]


def _dropped(ctx: RunContext, source: Source) -> _Dropped:
    """The source's dropped files of the partition (`_Dropped`): the manifest read in a
    session, the landing zone and the work items after it."""
    known = landed_files(ctx, source.name)
    paths = set(known["path"])
    found = [w for w in ctx.landing.discover(source.name, ctx.partition) if str(w) not in paths]
    # The partition's work items in one query, not one per file: a state store connection per
    # file was a tenth of a backfill's main-process CPU (docs/benchmarks.md).
    items = ctx.work.items("file", str(ctx.partition)) if ctx.work and found else {}
    new = [where for where in found if not _registration_waits(ctx, items, where)]
    listed = known.filter(pl.col("endpoint").is_in(list(source.event_parsers)))
    return _Dropped(
        known,
        items,
        new,
        len(found) - len(new),
        [w for w in new if w.endpoint in source.event_parsers],
        [w for w in new if w.endpoint not in source.event_parsers],
        tuple(zip(listed["path"], listed["endpoint"], strict=True)),
    )


def _listings_call(ctx: RunContext, source: Source, dropped: _Dropped) -> tuple[Any, ...]:
    """`_land_listings`'s arguments for the dropped files' event listings."""
    return (source.config, ctx.landing, dropped.old, dropped.listings, ctx.partition, ctx.run_id)


def _batch_calls(
    ctx: RunContext, source: Source, dropped: _Dropped, events: Events
) -> list[tuple[Any, ...]]:
    """`_land_batch`'s arguments for the other dropped files, BATCH_FILES at a time, parsed
    with the partition's `events`."""
    parse_ctx = ParseContext(
        markets=source.config.markets, books=source.config.books, events=events.frame
    )
    identity = ctx.settings.identity.compiled()
    others, config, landing = dropped.others, source.config, ctx.landing
    return [
        (
            config,
            landing,
            others[i : i + BATCH_FILES],
            ctx.partition,
            ctx.run_id,
            parse_ctx,
            identity,
        )
        for i in range(0, len(others), BATCH_FILES)
    ]


class Parsers(Executor):
    """A backfill's parse pool (`pool`), and what its partitions' dropped files were sent to
    it as before their runs began (`send_ahead`).

    A partition's run reads the manifest, sends its files to the pool, stores what comes back,
    then validates and consolidates; the worker idled while every partition in flight was past
    sending, and the main process while every one waited for the worker (the two took turns
    over a season: docs/benchmarks.md). Sent ahead, the next partitions' files are parsed
    while this process stores the earlier ones'. At most `depth` partitions sent and not yet
    taken by their runs (their results, compressed, wait here). A run takes what was sent for
    its partition only when it finds the very same files to read (`_taken_ahead`); a run that
    asks first reads and sends its files itself, and the partition is not sent ahead after it.
    """

    def __init__(self, pool: Executor, depth: int) -> None:
        self.pool, self.depth = pool, depth
        self._changed = threading.Condition()
        #: partition -> its sources' files sent (None: being sent)
        self._sent: dict[date, dict[str, SentAhead] | None] = {}
        self._asked: set[date] = set()  # partitions whose run asked before any was sent
        self._closed = False
        self._listed: queue.SimpleQueue[SentAhead | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.close()
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def close(self) -> None:
        """Nothing more is sent ahead, and what was and is not taken is dropped (the pool
        itself stays open for the runs)."""
        with self._changed:
            self._closed = True
            dropped = [s for sent in self._sent.values() for s in (sent or {}).values()]
            self._sent.clear()
            self._changed.notify_all()
            sender, self._sender = self._sender, None
        for sent in dropped:
            sent.cancel()
        if sender is not None:
            self._listed.put(None)
            sender.join()

    def ahead(self, day: date) -> bool:
        """Whether to send `day`'s files now (then `sent` says what was): not once its run
        has asked, nor once the pool is shut; waits while `depth` partitions are untaken."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or len(self._sent) < self.depth)
            if self._closed or day in self._asked:
                return False
            self._sent[day] = None
            return True

    def sent(self, day: date, sent: dict[str, SentAhead]) -> None:
        """What was sent for `day` (`ahead`), by source."""
        with self._changed:
            if self._closed or not sent:
                self._sent.pop(day, None)
            else:
                if self._sender is None:
                    self._sender = threading.Thread(
                        target=self._send, name="lineflow-parse-ahead", daemon=True
                    )
                    self._sender.start()
                for each in sent.values():
                    self._listed.put(each)
                self._sent[day] = dict(sent)
            self._changed.notify_all()
            closed = self._closed
        if closed:
            for each in sent.values():
                each.cancel()

    def take(self, day: date, source: str) -> SentAhead | None:
        """What was sent ahead for the source's files of `day`, if anything; waits while it
        is being sent."""
        with self._changed:
            if day not in self._sent:
                self._asked.add(day)
                return None
            self._changed.wait_for(lambda: self._sent.get(day, {}) is not None)
            sources = self._sent.get(day) or {}
            sent = sources.pop(source, None)
            if not sources:
                self._sent.pop(day, None)
                self._changed.notify_all()
        return sent

    def forget(self, day: date) -> None:
        """`day`'s run is over: what it did not take is dropped."""
        with self._changed:
            sent = self._sent.pop(day, None) or {}
            self._asked.discard(day)
            self._changed.notify_all()
        for each in sent.values():
            each.cancel()

    def _send(self) -> None:
        """Each source's batches sent once its listings are back (their events parse them), in
        the order the listings went."""
        while (sent := self._listed.get()) is not None:
            sent.send(self.pool)


@dataclass
class SentAhead:
    """A source's dropped files of a partition sent to the parse pool before its run: the
    files as found then (`new`, `old`: `_Dropped`), the listings' trip, and the batches'
    trips, sent once the listings are back (`send`). They were described and parsed with
    another run id than the run's that takes them (`_as_run`)."""

    new: tuple[str, ...]
    old: tuple[tuple[str, str], ...]
    listing: Future[Any]
    calls: Callable[[Events], list[tuple[Any, ...]]]
    listed: tuple[Any, ...] = ()
    batches: deque[Future[Any]] = field(default_factory=deque)
    ready: threading.Event = field(default_factory=threading.Event)
    failed: bool = False

    def send(self, pool: Executor) -> None:
        try:
            self.listed = _unshipped(self.listing.result())
            self.batches.extend(_sent(pool, _land_batch, self.calls(self.listed[3])))
        except Exception:  # noqa: BLE001 - the run reads and sends its files itself, and meets it
            self.failed = True
        finally:
            self.ready.set()

    def matches(self, dropped: _Dropped) -> bool:
        return self.new == tuple(map(str, dropped.new)) and self.old == dropped.old

    def cancel(self) -> None:
        self.listing.cancel()
        for future in self.batches:
            future.cancel()

    def parsed(self, run_id: str) -> Iterator[tuple[Any, ...]]:
        """The batches' results, in order, as the run with `run_id` describes and parses them
        (each dropped once taken)."""
        for parts in _received(self.batches):
            yield _as_run(parts, run_id)


def send_ahead(ctx: RunContext, parsers: Parsers) -> dict[str, SentAhead]:
    """The partition's dropped files of each of the request's sources sent to the parse pool,
    as `process` would send them now, before the partition's run (a backfill's)."""
    if not isinstance(ctx.landing, LandingZone):
        return {}
    sent = {}
    active = ctx.request.active_sources(ctx.settings)
    _read_manifests(ctx, active)
    for config in active:
        source = sources.load(config)
        dropped = _dropped(ctx, source)
        if not dropped.new:
            continue
        call = _listings_call(ctx, source, dropped)
        sent[source.name] = SentAhead(
            tuple(map(str, dropped.new)),
            dropped.old,
            _sent(parsers.pool, _land_listings, [call])[0],
            functools.partial(_batch_calls, ctx, source, dropped),
        )
    return sent


def _taken_ahead(ctx: RunContext, source: str, dropped: _Dropped) -> SentAhead | None:
    """What was sent ahead for the source's dropped files of the partition, when it was sent
    for the very files this run found (else it is dropped), its results as this run's."""
    parsers = ctx.parse_pool
    if not isinstance(parsers, Parsers) or not isinstance(ctx.landing, LandingZone):
        return None
    sent = parsers.take(ctx.partition, source)
    if sent is None:
        return None
    if not sent.matches(dropped):
        sent.cancel()
        return None
    sent.ready.wait()
    if sent.failed:
        sent.cancel()
        return None
    sent.listed = _as_run(sent.listed, ctx.run_id)
    return sent


def _as_run(parts: tuple[Any, ...], run_id: str) -> tuple[Any, ...]:
    """A trip's result (`_land_listings`, `_land_batch`) with `run_id` for the run id it was
    described and parsed with: the manifest rows, the files' outcomes and the staged rows."""
    landed, unreadable, outcomes, last = parts
    landed = landed.with_columns(pl.lit(run_id, LANDED_SCHEMA["run_id"]).alias("run_id"))
    outcomes = [replace(o, file={**o.file, "run_id": run_id}) for o in outcomes]
    if isinstance(last, pl.DataFrame) and "run_id" in last.columns:
        last = last.with_columns(pl.lit(run_id, last.schema["run_id"]).alias("run_id"))
    return landed, unreadable, outcomes, last


class _Staging:
    """Staging what a trip to the landing zone described and parsed (`_land_listings`,
    `_land_batch`): a file with content the ledger or an earlier batch has is left out, so is
    one whose content waits for a retry; the rest is staged with the manifest rows."""

    def __init__(
        self,
        ctx: RunContext,
        result: StageResult,
        items: dict[str, WorkItem],
        batches: _Batches,
        failures: list[str],
    ) -> None:
        self.ctx, self.result, self.items = ctx, result, items
        self.batches, self.failures = batches, failures
        self.seen: set[str] = set()  # content ids this run took (staged or left waiting)
        self.held: tuple[pl.DataFrame, list[Unreadable], list[StagedFile]] | None = None
        self.pending = False  # a file registered here is left for a retry
        self.registered: list[pl.DataFrame] = []  # the manifest rows written

    def hold(
        self, landed: pl.DataFrame, unreadable: list[Unreadable], outcomes: list[StagedFile]
    ) -> None:
        """Files with no rows (event listings) staged with the next batch."""
        self.held = (landed, unreadable, outcomes)

    def stage(
        self,
        landed: pl.DataFrame,
        unreadable: list[Unreadable],
        outcomes: list[StagedFile],
        rows: pl.DataFrame,
    ) -> None:
        ctx, result = self.ctx, self.result
        if self.held is not None:
            held, self.held = self.held, None
            landed = pl.concat([held[0], landed])
            unreadable, outcomes = [*held[1], *unreadable], [*held[2], *outcomes]
        for failure in unreadable:
            _unregistered(ctx, failure, result)
        now = ctx.work.clock() if ctx.work else 0.0
        batch, left = [], set()
        for outcome in outcomes:
            key = outcome.file["file_id"]
            item = self.items.get(file_work_key(outcome.file))
            if key in self.seen:
                if outcome.rows:  # its rows are in `rows` (a listing's content has none)
                    left.add(key)
                continue
            self.seen.add(key)
            if item is not None and item.waits(now):
                if outcome.rows:
                    left.add(key)
                self.pending = True
                continue
            self.pending |= outcome.status == "retry"
            batch.append((item.attempts if item else 0, outcome))
        if left and rows.height:
            rows = rows.filter(~pl.col("file_id").is_in(list(left)))
        for _ in batch:
            kill_point("before_stage_file")
        self.batches.add(batch, rows, result, self.failures, landed)
        self.registered.append(landed)


def start_worker(modules: Sequence[str], parent: int) -> None:
    """A parse worker's setup (the initializer of a backfill's parse pool): it imports the
    sources' `modules` before its first task, and exits as soon as the backfill that spawned
    it (process id `parent`) is gone. A backfill killed outright cannot shut its pool down,
    and its workers, waiting for work on a queue they hold both ends of, stayed forever. The
    parent's id comes from the parent: one killed while this worker was still starting would
    not be its parent any more by the time this runs."""

    def watch() -> None:
        while os.getppid() == parent:  # no notification exists for a parent's death: poll
            time.sleep(WORKER_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="lineflow-parent-watch", daemon=True).start()
    for module in modules:
        importlib.import_module(module)
    # What is imported lives as long as the worker: left to the collector, each full
    # collection walked all of it again (2 ms each, 0.15 s over a 40-date season).
    gc.freeze()


def _in_worker(task: Any, *args: Any) -> tuple[Any, ...]:
    """`task(*args)` in a parse pool's worker process, its frames shipped back (`Shipped`).

    The worker keeps what it freed for the next batch: handing it back after each batch
    (`malloc_trim`) made the next one fault the same pages in again, 12 % of the worker's CPU
    over 160 x 7, and its peak was the same without (docs/benchmarks.md)."""
    return tuple(_ship(part) for part in task(*args))


def _ship(part: Any) -> Any:
    if isinstance(part, pl.DataFrame):
        return Shipped(part)
    if isinstance(part, Events):
        return replace(part, frame=Shipped(part.frame))  # type: ignore[arg-type]  # in transit
    return part


def _trips(
    pool: Executor | None, task: Callable[..., tuple[Any, ...]], calls: list[tuple[Any, ...]]
) -> Iterator[tuple[Any, ...]]:
    """`task(*args)` for each of `calls`, the results in order: here, one by one; with a pool,
    all sent at once, so the workers read and parse while this thread stages what came back
    (each result dropped once taken, not kept until the last is)."""
    if pool is None:
        for args in calls:
            yield task(*args)
        return
    yield from _received(_sent(pool, task, calls))


def _sent(
    pool: Executor, task: Callable[..., tuple[Any, ...]], calls: Iterable[tuple[Any, ...]]
) -> deque[Future[Any]]:
    """`task(*args)` for each of `calls` sent to a parse pool's workers at once."""
    return deque(pool.submit(_in_worker, task, *args) for args in calls)


def _received(futures: deque[Future[Any]]) -> Iterator[tuple[Any, ...]]:
    """The trips' results in the order they were sent, each dropped once taken."""
    while futures:
        yield _unshipped(futures.popleft().result())


def _unshipped(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """A trip's result as its task returned it, from what a worker sent back (`_in_worker`)."""
    return tuple(
        part.frame()
        if isinstance(part, Shipped)
        else replace(part, frame=part.frame.frame())
        if isinstance(part, Events) and isinstance(part.frame, Shipped)
        else part
        for part in parts
    )


def _land_listings(
    config: SourceConfig,
    landing: Landing,
    known: tuple[tuple[str, str], ...],
    found: list[LandingPath],
    partition: date,
    run_id: str,
) -> tuple[pl.DataFrame, list[Unreadable], list[StagedFile], Events]:
    """Dropped event listings described and parsed, each read once, with the partition's
    listings already in the manifest (`known`: path, endpoint): their manifest rows, the
    files that could not be described, each new listing's outcome, and the source's events
    of the partition (`source_events`'s answer once these are registered)."""
    source = sources.load(config)
    bodies: dict[str, bytes] = {}
    landed, unreadable = describe(landing, found, config.name, partition, run_id, bodies)
    files = tuple(sorted([*known, *zip(landed["path"], landed["endpoint"], strict=True)]))
    events = parse_listings(source, landing, files, bodies)
    outcomes = [_listing_outcome(file, events) for file in landed.iter_rows(named=True)]
    return landed, unreadable, outcomes, events


def _land_batch(
    config: SourceConfig,
    landing: Landing,
    found: list[LandingPath],
    partition: date,
    run_id: str,
    parse_ctx: ParseContext,
    identity: Identity,
) -> tuple[pl.DataFrame, list[Unreadable], list[StagedFile], pl.DataFrame]:
    """Dropped files described and parsed, each read once, BATCH_BYTES of bodies at a time:
    their manifest rows, the files that could not be described, and `parse_files`'s outcomes
    and rows of the first file of each content id (identical bodies are processed once)."""
    source = sources.load(config)
    files = iter(found)
    landed, unreadable, outcomes, rows = [], [], [], [_empty_staged()]
    taken: set[str] = set()  # content ids parsed
    while True:
        bodies: dict[str, bytes] = {}
        part, failed = describe(landing, files, config.name, partition, run_id, bodies, BATCH_BYTES)
        if part.is_empty() and not failed:
            break
        first = part.filter(~pl.col("file_id").is_in(list(taken))).unique(
            "file_id", keep="first", maintain_order=True
        )
        taken.update(first["file_id"])
        parsed = parse_files(
            source, parse_ctx, list(first.iter_rows(named=True)), landing, run_id, identity, bodies
        )
        landed.append(part)
        unreadable.extend(failed)
        outcomes.extend(parsed[0])
        rows.append(parsed[1])
    return pl.concat([landed_frame([]), *landed]), unreadable, outcomes, pl.concat(rows)


@dataclass(frozen=True)
class Unreadable:
    """A dropped file `describe` could not read or date: its path and why (one line)."""

    path: str
    error: str
    permanent: bool


def _registration_key(ctx: RunContext, path: str) -> str:
    return f"{ctx.partition}/{path}"


def _registration_waits(ctx: RunContext, items: dict[str, WorkItem], where: LandingPath) -> bool:
    """A dropped file whose registration is dead-lettered or backing off is not read again
    (`items`: the partition's file work items, by key)."""
    if ctx.work is None:
        return False
    item = items.get(_registration_key(ctx, str(where)))
    if item is None or item.status == "done":
        return False
    return item.waits(ctx.work.clock())


def _unregistered(ctx: RunContext, failure: Unreadable, result: StageResult) -> None:
    """A dropped file left out of the manifest: counted as its own failed attempt."""
    result.notes.append(f"not registered: {failure.path}: {failure.error}")
    if result.status == "success":
        result.status = "partial"
        result.error = f"dropped file not registered: {failure.path}: {failure.error}"
    if ctx.work is None:
        return
    outcome = ctx.work.failed(
        "file",
        _registration_key(ctx, failure.path),
        f"landing:{failure.path}",
        failure.error,
        permanent=failure.permanent,
        partition=str(ctx.partition),
    )
    if outcome.dead:
        result.notes.append(f"dead letter {outcome.letter_id}: {failure.path}")


def describe(
    landing: Landing,
    found: Iterable[LandingPath],
    source: str,
    partition: date,
    run_id: str,
    bodies: dict[str, bytes] | None = None,
    budget: int | None = None,
) -> tuple[pl.DataFrame, list[Unreadable]]:
    """The manifest rows of files found in the landing zone: path, content id, endpoint, pass,
    size and how it was fetched, from its sidecar (a file without one is dated by its pass);
    and the files that could not be read or dated, each with its reason.
    Keeps the bodies in `bodies` when given, for parsing next, and then stops once they reach
    `budget` bytes (what is left of an iterator `found` is for the next call)."""
    columns: dict[str, list[Any]] = {name: [] for name in _DESCRIBED}
    path_, file_id_, endpoint_, pass_id_, bytes_, url_, status_, at_ = columns.values()
    unreadable = []
    kept = 0
    for where in found:
        path = str(where)
        try:
            body = landing.read(path)
            # A sidecar (landed by a run killed before its manifest row, or synced along with
            # the file) says how it was fetched.
            fetched = check_sidecar(landing.read_meta(path), where)
        except IsADirectoryError:  # the layout names files; a directory never becomes one
            unreadable.append(Unreadable(path, "a directory, not a landed file", True))
            continue
        except Exception as exc:  # noqa: BLE001 - that file's failure, the others go on
            unreadable.append(Unreadable(path, one_line(reason(exc)), is_permanent(exc)))
            continue
        if bodies is not None:
            bodies[path] = body
            kept += len(body)
        # Columns, not a LandedRow a file: the manifest rows go to the warehouse as a frame.
        path_.append(path)
        file_id_.append(file_id(body))
        endpoint_.append(where.endpoint)
        pass_id_.append(where.pass_id)
        bytes_.append(len(body))
        url_.append(fetched.url)
        status_.append(fetched.http_status)
        at_.append(fetched.fetched_at)
        if budget is not None and kept >= budget:
            break
    frame = pl.DataFrame(columns, schema={name: LANDED_SCHEMA[name] for name in _DESCRIBED})
    return frame.with_columns(
        source=pl.lit(source, LANDED_SCHEMA["source"]),
        slate_date=pl.lit(partition, LANDED_SCHEMA["slate_date"]),
        run_id=pl.lit(run_id, LANDED_SCHEMA["run_id"]),
    ).select(*LANDED_SCHEMA), unreadable


#: The manifest columns `describe` finds per file (the others are the call's).
_DESCRIBED = ("path", "file_id", "endpoint", "pass_id", "bytes", "url", "http_status", "fetched_at")


def _read_manifests(ctx: RunContext, active: Sequence[SourceConfig]) -> None:
    """The sources' landed files of the partition (`landed_files`) read in one session: a
    session each waited for the warehouse again behind other partitions' writes, while no
    file of this one was sent to the parse pool yet (docs/benchmarks.md)."""
    with ctx.warehouse.session():
        for source in active:
            landed_files(ctx, source.name)


def landed_files(ctx: RunContext, source: str) -> pl.DataFrame:
    """The source's landed files of the partition, read from the manifest once a run (until
    `process` adds files dropped into the landing zone): process and validate each asked
    several times a partition."""
    if source not in ctx.handover.landed:
        ctx.handover.landed[source] = ctx.warehouse.landed(ctx.partition, source)
    return ctx.handover.landed[source]


def source_events(ctx: RunContext, source: Source) -> pl.DataFrame:
    """Every event this source listed for the partition, newest listing winning."""
    return _events(ctx, source).frame


def _events(ctx: RunContext, source: Source) -> Events:
    landed = landed_files(ctx, source.name)
    listings = landed.filter(pl.col("endpoint").is_in(list(source.event_parsers)))
    files = tuple(zip(listings["path"], listings["endpoint"], strict=True))
    known = ctx.handover.events.get(source.name)
    if known is not None and known.listings == files:
        return known
    pool = _pool(ctx)
    if pool is None:
        events = parse_listings(source, ctx.landing, files)
    else:  # Python parsing JSON: the worker's core, not this process's
        (events,) = _unshipped(
            pool.submit(_in_worker, _listings, source.config, ctx.landing, files).result()
        )
    ctx.handover.events[source.name] = events
    return events


def parse_listings(
    source: Source,
    landing: Landing,
    files: Sequence[tuple[str, str]],
    bodies: dict[str, bytes] | None = None,
) -> Events:
    """The events of the listings (path, endpoint), newest last, one row per event, and why
    each listing that gave none failed (its status and error, as `_failed` records them).
    Bodies already read are taken from `bodies`, the others read from `landing`."""
    frames = []
    failed: dict[str, tuple[str, str]] = {}
    for path, endpoint in files:
        try:
            body = (bodies or {}).pop(path, None) or landing.read(path)
            frames.append(source.event_parsers[endpoint](body))
        except Exception as exc:  # noqa: BLE001 - that listing's failure, recorded with it
            failed[path] = _verdict(exc)
    frame = (
        pl.concat(frames).unique("event_id", keep="last", maintain_order=True)
        if frames
        else pl.DataFrame(schema=EVENT_COLUMNS)
    )
    return Events(tuple(files), frame, failed)


def _listings(
    config: SourceConfig, landing: Landing, files: tuple[tuple[str, str], ...]
) -> tuple[Events]:
    """`parse_listings` with the source loaded here (a parse worker's)."""
    return (parse_listings(sources.load(config), landing, files),)


def _process_source(
    ctx: RunContext,
    source: Source,
    result: StageResult,
    batches: _Batches,
    failures: list[str],
) -> None:
    """The manifest's files of the partition whose content is not in the ledger (scraped
    files, and files to retry), parsed in batches and staged with the partition's others
    (`_Batches`)."""
    pending = ctx.warehouse.unprocessed(ctx.partition, source.name)
    if pending.is_empty():
        if not result.files:
            result.notes.append("nothing new to process")
        return
    items = ctx.work.items("file", str(ctx.partition)) if ctx.work else {}
    now = ctx.work.clock() if ctx.work else 0.0
    # New files first, retries after them; files in backoff or dead-lettered wait: a failing
    # file never holds back the others.
    todo, waiting = [], 0
    for file in pending.iter_rows(named=True):
        item = items.get(file_work_key(file))
        if item is not None and item.waits(now):
            waiting += 1
            continue
        todo.append((item.attempts if item else 0, file))
    todo.sort(key=lambda pair: pair[0])
    if waiting:
        result.notes.append(f"{waiting} files waiting for a retry or in the dead-letter store")
    if not todo:
        return
    events = _events(ctx, source)
    parse_ctx = ParseContext(
        markets=source.config.markets, books=source.config.books, events=events.frame
    )
    chunks = list(_chunks(todo))
    for chunk, (outcomes, rows) in zip(
        chunks, _parsed(ctx, source, parse_ctx, chunks, events), strict=True
    ):
        for _ in chunk:
            kill_point("before_stage_file")
        staged = [
            (attempts, outcome) for (attempts, _), outcome in zip(chunk, outcomes, strict=True)
        ]
        batches.add(staged, rows, result, failures)


def _chunks(
    todo: list[tuple[int, dict[str, Any]]],
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Batches of at most BATCH_FILES files and BATCH_BYTES of bodies (the manifest's sizes)."""
    chunk: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for item in todo:
        if chunk and (len(chunk) >= BATCH_FILES or size + item[1]["bytes"] > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item[1]["bytes"]
    if chunk:
        yield chunk


def file_work_key(file: dict[str, Any]) -> str:
    """A landed file as a unit of work: its content in its partition (the ledger's key)."""
    return f"{file['slate_date']}/{file['file_id']}"


def _record_attempt(
    ctx: RunContext,
    file: dict[str, Any],
    status: str,
    error: str | None,
    attempts: int,
    result: StageResult,
) -> None:
    """A failed file is permanent (dead letter now); one to retry backs off."""
    if ctx.work is None:
        return
    key, ref = file_work_key(file), f"landing:{file['path']}"
    partition = str(file["slate_date"])
    if status == "failed" and error is not None:
        ctx.work.failed("file", key, ref, error, permanent=True, partition=partition)
    elif status == "retry" and error is not None:
        failure = ctx.work.failed("file", key, ref, error, permanent=False, partition=partition)
        if failure.dead:
            result.notes.append(f"dead letter {failure.letter_id}: {file['path']}")
    elif attempts:
        ctx.work.succeeded("file", key, ref, partition)


@dataclass
class _Batch:
    """A parsed batch waiting for its transaction (`_Batches`): its files (attempts so far,
    outcome), their rows, the manifest rows of dropped files, and the source's result and
    failures that its files count in once committed. `taken`: content ids an earlier batch of
    the same transaction stages (left out here, as if the ledger had them)."""

    batch: list[tuple[int, StagedFile]]
    rows: pl.DataFrame
    landed: pl.DataFrame | None
    result: StageResult
    failures: list[str]
    taken: set[str]


class _Batches:
    """The partition's parsed batches, every source's, staged in one transaction: their rows,
    ledger rows and manifest rows written together when the stage ends (`flush`), or sooner
    once BATCH_FILES files wait; then each file's attempt is recorded. A transaction a source
    and batch wrote each batch's partly filled last row group at its commit and paid the
    statements around it again: a transaction a partition stores the season's rows 0.5 of
    3.0 s cheaper (docs/benchmarks.md).

    As if the batches were staged one after another: a file whose content an earlier batch of
    the transaction stages is left out (as the ledger check in `stage_files` leaves out one
    it already has), and a kill before the commit leaves none of them staged."""

    def __init__(self, ctx: RunContext, handed: list[pl.DataFrame] | None) -> None:
        self.ctx, self.handed = ctx, handed
        self.waiting: list[_Batch] = []
        self.ids: set[str] = set()  # content ids of the waiting ledger rows
        self.files = 0

    def add(
        self,
        batch: list[tuple[int, StagedFile]],
        rows: pl.DataFrame,
        result: StageResult,
        failures: list[str],
        landed: pl.DataFrame | None = None,
    ) -> None:
        if not batch and (landed is None or landed.is_empty()):
            return
        ids = {staged.file["file_id"] for _, staged in batch if staged.status != "retry"}
        taken = ids & self.ids
        if taken and rows.height:
            rows = rows.filter(~pl.col("file_id").is_in(list(taken)))
        self.ids |= ids
        self.waiting.append(_Batch(batch, rows, landed, result, failures, taken))
        self.files += len(batch)
        if self.files >= BATCH_FILES:
            self.flush()

    def flush(self) -> None:
        """Stage the waiting batches in one transaction, then count and record their files."""
        waiting, self.waiting, self.ids, self.files = self.waiting, [], set(), 0
        if not waiting:
            return
        frames = [w.rows for w in waiting if w.rows.height]
        rows = pl.concat(frames) if frames else pl.DataFrame()
        manifest = [w.landed for w in waiting if w.landed is not None]
        known = self.ctx.warehouse.stage_files(
            [
                staged
                for w in waiting
                for _, staged in w.batch
                if staged.status != "retry" and staged.file["file_id"] not in w.taken
            ],
            rows,
            self.ctx.run_id,
            self.ctx.clock(),
            landed=pl.concat(manifest) if manifest else None,
        )
        if self.handed is not None and rows.height:
            if known:
                rows = rows.filter(~pl.col("file_id").is_in(list(known)))
            self.handed.append(rows.select(*PROP_LINES))
        for w in waiting:
            _committed(self.ctx, w, known | w.taken)


def _committed(ctx: RunContext, waited: _Batch, known: set[str]) -> None:
    """A staged batch's files counted in its source's result and their attempts recorded
    (`known`: content ids left out, which the ledger or an earlier batch has)."""
    result = waited.result
    for attempts, staged in waited.batch:
        if staged.file["file_id"] in known:
            continue  # the ledger had its content: not processed again
        kill_point("after_stage_file")
        file = staged.file
        result.files += 1
        result.rows += staged.rows
        _record_attempt(ctx, file, staged.status, staged.error, attempts, result)
        if staged.error is not None:
            waited.failures.append(f"{file['path']}: {staged.error}")
            result.notes.append(f"{staged.status}: {file['path']}: {staged.error}")


def _parsed(
    ctx: RunContext,
    source: Source,
    parse_ctx: ParseContext,
    chunks: list[list[tuple[int, dict[str, Any]]]],
    events: Events,
) -> Iterator[tuple[list[StagedFile], pl.DataFrame]]:
    """Each chunk parsed, in order. Parsing needs no warehouse: another partition's thread may
    write meanwhile. With a parse pool every chunk is sent to it at once and the worker
    processes read and parse while this thread stages what came back: parsing is Python work
    that holds the GIL, and a season's parse took as long as DuckDB storing its rows."""
    identity = ctx.settings.identity.compiled()
    pool = _pool(ctx)
    if pool is None:
        for chunk in chunks:
            files = [file for _, file in chunk]
            yield parse_files(
                source, parse_ctx, files, ctx.landing, ctx.run_id, identity, {}, events
            )
        return
    calls = [
        (source.config, parse_ctx, [f for _, f in chunk], ctx.landing, ctx.run_id, identity, events)
        for chunk in chunks
    ]
    yield from _trips(pool, _parse, calls)


def _pool(ctx: RunContext) -> Executor | None:
    """The run's parse pool when its workers can read the landing zone themselves."""
    return ctx.parse_pool if isinstance(ctx.landing, LandingZone) else None


def _parse(
    config: SourceConfig,
    parse_ctx: ParseContext,
    files: list[dict[str, Any]],
    landing: Landing,
    run_id: str,
    identity: Identity,
    events: Events,
) -> tuple[list[StagedFile], pl.DataFrame]:
    """`parse_files` with the source loaded here (a parse worker's: its config crosses the
    process boundary, its functions need not)."""
    source = sources.load(config)
    return parse_files(source, parse_ctx, files, landing, run_id, identity, {}, events)


def parse_files(
    source: Source,
    parse_ctx: ParseContext,
    files: list[dict[str, Any]],
    landing: Landing,
    run_id: str,
    identity: Identity,
    bodies: dict[str, bytes],
    events: Events | None = None,
) -> tuple[list[StagedFile], pl.DataFrame]:
    """A batch of landed files parsed into what `stage_files` inserts as it is: per file its
    row count or why it has none, and the rows of all of them (one polars pass per endpoint),
    cast to the staging schema, resolved to one identity per player, team and bookmaker
    (`identity`: core/identity.py), with their lineage (file_id, run_id) and numbered per file
    (`row_no`). All of it happens here, in a parse worker when there is a pool: the process
    that writes the warehouse only inserts. Bodies already read are taken from `bodies`, the
    others read from `landing`; an event listing `events` was parsed from is judged by that
    parse, not read again."""
    listed = {path for path, _ in events.listings} if events is not None else set()
    outcomes: dict[int, StagedFile] = {}
    props: dict[str, list[tuple[int, bytes]]] = {}
    parsers: dict[str, BatchParser | None] = {}
    for i, file in enumerate(files):
        endpoint = file["endpoint"]
        if endpoint not in parsers:
            parsers[endpoint] = source.batch_parser(endpoint)
        if events is not None and file["path"] in listed:
            outcomes[i] = _listing_outcome(file, events)
            continue
        try:
            body = bodies.pop(file["path"], None) or landing.read(file["path"])
            if endpoint in source.event_parsers:
                source.event_parsers[endpoint](body)  # checked; sources read them for teams
                outcomes[i] = StagedFile(file, 0)
            elif parsers[endpoint] is None:
                outcomes[i] = _failed(file, ParseError(f"no parser for endpoint {endpoint!r}"))
            else:
                props.setdefault(endpoint, []).append((i, body))
        except Exception as exc:  # noqa: BLE001 - I/O or a bug: retried on a later run
            outcomes[i] = _failed(file, exc)
    frames = [empty_prop_lines()]
    for endpoint, members in props.items():
        group = [files[i] for i, _ in members]
        items = [(body, _meta(file)) for file, (_, body) in zip(group, members, strict=True)]
        try:
            parsed = parsers[endpoint](items, parse_ctx)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - a bug in the parser: retried on a later run
            outcomes.update(
                (i, _failed(file, exc)) for file, (i, _) in zip(group, members, strict=True)
            )
            continue
        counts = dict(parsed.frame.group_by("file_idx").len().iter_rows())
        for k, (file, (i, _)) in enumerate(zip(group, members, strict=True)):
            error = parsed.errors.get(k)
            outcomes[i] = _failed(file, error) if error else StagedFile(file, counts.get(k, 0))
        file_ids = pl.Series([file["file_id"] for file in group], dtype=pl.String)
        frames.append(
            conform(
                parsed.frame.with_columns(
                    file_id=file_ids.gather(parsed.frame["file_idx"]), run_id=pl.lit(run_id)
                )
            )
        )
    rows = resolve(pl.concat(frames, how="vertical"), identity)
    return [outcomes[i] for i in range(len(files))], number_rows(rows)


def _empty_staged() -> pl.DataFrame:
    """No staged rows, as `parse_files` returns them (with `row_no`)."""
    return number_rows(empty_prop_lines())


def _failed(file: dict[str, Any], exc: Exception) -> StagedFile:
    return StagedFile(file, 0, *_verdict(exc))


def _verdict(exc: Exception) -> tuple[str, str]:
    """A file's status and error for what parsing it raised. An outage body is recorded as
    the provider's (the body never changes: parsing it again would say the same; a later
    scrape lands a new one); otherwise the error's family decides: permanent (an
    unparseable body) fails the file for good, anything else retries."""
    if isinstance(exc, ProviderOutage):
        return "outage", one_line(str(exc))
    # One line: a polars error's text spans many (the expression it failed in).
    return ("failed" if is_permanent(exc) else "retry"), one_line(reason(exc))


def _listing_outcome(file: dict[str, Any], events: Events) -> StagedFile:
    """An event listing's outcome, from parsing it for the partition's events (`events`)."""
    failed = events.failed.get(file["path"])
    return StagedFile(file, 0) if failed is None else StagedFile(file, 0, *failed)


def _meta(file: dict[str, Any]) -> FileMeta:
    return FileMeta(
        file_id=file["file_id"],
        source=file["source"],
        endpoint=file["endpoint"],
        slate_date=file["slate_date"],
        fetched_at=file["fetched_at"],
    )
