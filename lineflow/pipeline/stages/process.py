"""process: parse every landed file of the partition not yet in the ledger into staging.

Driven by the ledger of landed files, never by "this date already succeeded": a file that lands
after an earlier run is processed by the next one. A file that cannot be parsed is recorded with
its reason and the others go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.core.allocator import give_back_freed_memory
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
from lineflow.warehouse.duckdb import LandedRow, StagedFile, landed_frame

#: Files parsed together (one polars pass per endpoint) and staged in one transaction, and the
#: bytes of their bodies: a commit per file cost more than parsing it, and a polars pass per
#: file more than walking its JSON (docs/benchmarks.md).
BATCH_FILES = 500
BATCH_BYTES = 64 * 1024 * 1024


def run(ctx: RunContext) -> list[StageResult]:
    results = []
    _, before = ctx.warehouse.staging_fingerprint(ctx.partition)
    staged: list[pl.DataFrame] | None = [] if before == 0 else None
    for source in ctx.request.active_sources(ctx.settings):
        result = StageResult(f"process:{source.name}", "process", started_at=ctx.clock())
        results.append(result)
        bodies = _register_dropped_files(ctx, source.name, result)
        _process_source(ctx, sources.load(source), result, bodies, staged)
        result.figures = {"files_processed": result.files, "rows_staged": result.rows}
        result.finished_at = ctx.clock()
    if staged is not None:
        rows = pl.concat([empty_prop_lines(), *staged]).select(*PROP_LINES)
        # Kept with the staging fingerprint they are: rows another run stages before validate
        # reads them are then not missed.
        fingerprint = ctx.warehouse.staging_fingerprint(ctx.partition)
        ctx.handover.staged = StagedRows(fingerprint, rows)
    return results


def _register_dropped_files(ctx: RunContext, source: str, result: StageResult) -> dict[str, bytes]:
    """Files put into the landing zone by hand (restored from a bucket, say) join the manifest,
    in one insert. Returns the bodies it read (up to BATCH_BYTES), which parsing needs next;
    with a parse pool the files are read, hashed and described there, and no body comes back.
    The files are read outside any warehouse session.

    A file that cannot be described (a sidecar that does not say how it was fetched, a
    directory where a file belongs, a read error) is that file's failure, never the
    partition's: it is not registered, its error's family decides dead letter or retry (work
    kind "file", keyed by its path), and it is not looked at again until replayed or due."""
    known = set(landed_files(ctx, source)["path"])
    found = [
        where for where in ctx.landing.discover(source, ctx.partition) if str(where) not in known
    ]
    # The partition's work items in one query, not one per file: a state store connection per
    # file was a tenth of a backfill's main-process CPU (docs/benchmarks.md).
    items = ctx.work.items("file", str(ctx.partition)) if ctx.work and found else {}
    new = [where for where in found if not _registration_waits(ctx, items, where)]
    if len(new) < len(found):
        waiting = len(found) - len(new)
        result.notes.append(f"{waiting} dropped files waiting for a retry or in the dead letters")
    if not new:
        return {}
    ctx.handover.landed.pop(source, None)  # the manifest grows here
    bodies: dict[str, bytes] = {}
    pool = _pool(ctx)
    if pool is None:
        described, unreadable = describe(
            ctx.landing, new, source, ctx.partition, ctx.run_id, bodies
        )
    else:
        parts = [new[i : i + BATCH_FILES] for i in range(0, len(new), BATCH_FILES)]
        futures = [
            pool.submit(_describe_in_worker, ctx.landing, part, source, ctx.partition, ctx.run_id)
            for part in parts
        ]
        shipped = [future.result() for future in futures]
        described = pl.concat([frame.frame() for frame, _ in shipped])
        unreadable = [failure for _, failures in shipped for failure in failures]
    ctx.warehouse.record_landed_many(described)
    for failure in unreadable:
        _unregistered(ctx, failure, result)
    return bodies


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
    return item.status == "dead" or (item.next_attempt_at or 0) > ctx.work.clock()


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
    found: list[LandingPath],
    source: str,
    partition: date,
    run_id: str,
    bodies: dict[str, bytes] | None = None,
) -> tuple[pl.DataFrame, list[Unreadable]]:
    """The manifest rows of files found in the landing zone: path, content id, endpoint, pass,
    size and how it was fetched, from its sidecar (a file without one is dated by its pass);
    and the files that could not be read or dated, each with its reason.
    Keeps up to BATCH_BYTES of the bodies in `bodies` when given."""
    rows = []
    unreadable = []
    kept = 0
    for where in found:
        path = str(where)
        try:
            body = landing.read(where)
            # A sidecar (landed by a run killed before its manifest row, or synced along with
            # the file) says how it was fetched.
            fetched = check_sidecar(landing.read_meta(where), where)
        except IsADirectoryError:  # the layout names files; a directory never becomes one
            unreadable.append(Unreadable(path, "a directory, not a landed file", True))
            continue
        except Exception as exc:  # noqa: BLE001 - that file's failure, the others go on
            unreadable.append(Unreadable(path, one_line(reason(exc)), is_permanent(exc)))
            continue
        if bodies is not None and kept + len(body) <= BATCH_BYTES:
            bodies[path] = body
            kept += len(body)
        rows.append(
            LandedRow(
                path=path,
                file_id=file_id(body),
                source=source,
                endpoint=where.endpoint,
                slate_date=partition,
                pass_id=where.pass_id,
                bytes=len(body),
                url=fetched.url,
                http_status=fetched.http_status,
                fetched_at=fetched.fetched_at,
                run_id=run_id,
            )
        )
    return landed_frame(rows), unreadable


def _describe_in_worker(
    landing: Landing, found: list[LandingPath], source: str, partition: date, run_id: str
) -> tuple[Shipped, list[Unreadable]]:
    """`describe` in a parse pool's worker process: the rows come back as one frame."""
    frame, unreadable = describe(landing, found, source, partition, run_id)
    return Shipped(frame), unreadable


def landed_files(ctx: RunContext, source: str) -> pl.DataFrame:
    """The source's landed files of the partition, read from the manifest once a run (until
    `process` adds files dropped into the landing zone): process and validate each asked
    several times a partition."""
    if source not in ctx.handover.landed:
        ctx.handover.landed[source] = ctx.warehouse.landed(ctx.partition, source)
    return ctx.handover.landed[source]


def source_events(ctx: RunContext, source: Source) -> pl.DataFrame:
    """Every event this source listed for the partition, newest listing winning."""
    landed = landed_files(ctx, source.name)
    listings = landed.filter(pl.col("endpoint").is_in(list(source.event_parsers)))
    files = tuple(zip(listings["path"], listings["endpoint"], strict=True))
    known = ctx.handover.events.get(source.name)
    if known is not None and known.listings == files:
        return known.frame
    pool = _pool(ctx)
    if pool is None:
        frame = parse_listings(source, ctx.landing, files)
    else:  # Python parsing JSON: the worker's core, not this process's
        frame = pool.submit(_listings_in_worker, source.config, ctx.landing, files).result().frame()
    ctx.handover.events[source.name] = Events(files, frame)
    return frame


def parse_listings(
    source: Source, landing: Landing, files: Sequence[tuple[str, str]]
) -> pl.DataFrame:
    """The events of the listings (path, endpoint), newest last, one row per event."""
    frames = []
    for path, endpoint in files:
        try:
            frames.append(source.event_parsers[endpoint](landing.read(path)))
        except ParseError:
            continue  # reported when the file itself is processed
    if not frames:
        return pl.DataFrame(schema=EVENT_COLUMNS)
    return pl.concat(frames).unique("event_id", keep="last", maintain_order=True)


def _listings_in_worker(
    config: SourceConfig, landing: Landing, files: Sequence[tuple[str, str]]
) -> Shipped:
    """`parse_listings` in a parse pool's worker process (the source loaded there)."""
    return Shipped(parse_listings(sources.load(config), landing, files))


def _process_source(
    ctx: RunContext,
    source: Source,
    result: StageResult,
    bodies: dict[str, bytes],
    handed: list[pl.DataFrame] | None,
) -> None:
    pending = ctx.warehouse.unprocessed(ctx.partition, source.name)
    if pending.is_empty():
        result.notes.append("nothing new to process")
        return
    items = ctx.work.items("file", str(ctx.partition)) if ctx.work else {}
    now = ctx.work.clock() if ctx.work else 0.0
    # New files first, retries after them; files in backoff or dead-lettered wait: a failing
    # file never holds back the others.
    todo, waiting = [], 0
    for file in pending.iter_rows(named=True):
        item = items.get(file_work_key(file))
        if item is not None and (item.status == "dead" or (item.next_attempt_at or 0) > now):
            waiting += 1
            continue
        todo.append((item.attempts if item else 0, file))
    todo.sort(key=lambda pair: pair[0])
    if waiting:
        result.notes.append(f"{waiting} files waiting for a retry or in the dead-letter store")
    if not todo:
        return
    parse_ctx = ParseContext(
        markets=source.config.markets,
        books=source.config.books,
        events=source_events(ctx, source),
    )
    failures: list[str] = []
    chunks = list(_chunks(todo))
    for chunk, (outcomes, rows) in zip(
        chunks, _parsed(ctx, source, parse_ctx, chunks, bodies), strict=True
    ):
        for _ in chunk:
            kill_point("before_stage_file")
        staged = [
            (attempts, outcome) for (attempts, _), outcome in zip(chunk, outcomes, strict=True)
        ]
        _flush(ctx, staged, rows, result, failures)
        if handed is not None:
            handed.append(rows.select(*PROP_LINES))
    if failures:
        result.status = "partial"
        result.error = f"{len(failures)} of {result.files} files not loaded; first: {failures[0]}"


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


def _flush(
    ctx: RunContext,
    batch: list[tuple[int, StagedFile]],
    rows: pl.DataFrame,
    result: StageResult,
    failures: list[str],
) -> None:
    """Stage a batch of parsed files and their ledger rows in one transaction, then record each
    file's attempt. A commit per file cost more than parsing it."""
    if not batch:
        return
    ctx.warehouse.stage_files(
        [staged for _, staged in batch if staged.status != "retry"], rows, ctx.run_id, ctx.clock()
    )
    for attempts, staged in batch:
        kill_point("after_stage_file")
        file = staged.file
        result.files += 1
        result.rows += staged.rows
        _record_attempt(ctx, file, staged.status, staged.error, attempts, result)
        if staged.error is not None:
            failures.append(f"{file['path']}: {staged.error}")
            result.notes.append(f"{staged.status}: {file['path']}: {staged.error}")


def _parsed(
    ctx: RunContext,
    source: Source,
    parse_ctx: ParseContext,
    chunks: list[list[tuple[int, dict[str, Any]]]],
    bodies: dict[str, bytes],
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
            yield parse_files(source, parse_ctx, files, ctx.landing, ctx.run_id, identity, bodies)
        return
    futures = deque(
        pool.submit(
            _parse_in_worker,
            source.config,
            parse_ctx,
            [file for _, file in chunk],
            ctx.landing,
            ctx.run_id,
            identity,
        )
        for chunk in chunks
    )
    while futures:  # each result dropped once staged, not kept until the last is
        outcomes, shipped = futures.popleft().result()
        rows = shipped.frame()
        del shipped  # its bytes (more than the frame's) are not kept while the rows are staged
        yield outcomes, rows


def _pool(ctx: RunContext) -> Executor | None:
    """The run's parse pool when its workers can read the landing zone themselves."""
    return ctx.parse_pool if isinstance(ctx.landing, LandingZone) else None


def _parse_in_worker(
    config: SourceConfig,
    parse_ctx: ParseContext,
    files: list[dict[str, Any]],
    landing: Landing,
    run_id: str,
    identity: Identity,
) -> tuple[list[StagedFile], Shipped]:
    """`parse_files` in a parse pool's worker process (the source loaded there: its config
    crosses the process boundary, its functions need not)."""
    outcomes, rows = parse_files(
        sources.load(config), parse_ctx, files, landing, run_id, identity, {}
    )
    shipped = Shipped(rows)
    del rows
    give_back_freed_memory()  # the batch's bodies and documents: lineflow.core.allocator
    return outcomes, shipped


def parse_files(
    source: Source,
    parse_ctx: ParseContext,
    files: list[dict[str, Any]],
    landing: Landing,
    run_id: str,
    identity: Identity,
    bodies: dict[str, bytes],
) -> tuple[list[StagedFile], pl.DataFrame]:
    """A batch of landed files parsed into what `stage_files` inserts as it is: per file its
    row count or why it has none, and the rows of all of them (one polars pass per endpoint),
    cast to the staging schema, resolved to one identity per player, team and bookmaker
    (`identity`: core/identity.py), with their lineage (file_id, run_id) and numbered per file
    (`row_no`). All of it happens here, in a parse worker when there is a pool: the process
    that writes the warehouse only inserts. Bodies already read are taken from `bodies`, the
    others read from `landing`."""
    outcomes: dict[int, StagedFile] = {}
    props: dict[str, list[tuple[int, bytes]]] = {}
    parsers: dict[str, BatchParser | None] = {}
    for i, file in enumerate(files):
        endpoint = file["endpoint"]
        if endpoint not in parsers:
            parsers[endpoint] = source.batch_parser(endpoint)
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


def _failed(file: dict[str, Any], exc: Exception) -> StagedFile:
    """An outage body is recorded as the provider's (the body never changes: parsing it again
    would say the same; a later scrape lands a new one); otherwise the error's family decides:
    permanent (an unparseable body) fails the file for good, anything else retries."""
    if isinstance(exc, ProviderOutage):
        return StagedFile(file, 0, "outage", one_line(str(exc)))
    # One line: a polars error's text spans many (the expression it failed in).
    status = "failed" if is_permanent(exc) else "retry"
    return StagedFile(file, 0, status, one_line(reason(exc)))


def _meta(file: dict[str, Any]) -> FileMeta:
    return FileMeta(
        file_id=file["file_id"],
        source=file["source"],
        endpoint=file["endpoint"],
        slate_date=file["slate_date"],
        fetched_at=file["fetched_at"],
    )
