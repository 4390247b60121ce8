"""process: parse every landed file of the partition not yet in the ledger into staging.

Driven by the ledger of landed files, never by "this date already succeeded": a file that lands
after an earlier run is processed by the next one. A file that cannot be parsed is recorded with
its reason and the others go on.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

import polars as pl

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.faults import kill_point
from lineflow.landing import file_id, pass_time
from lineflow.schema import conform, empty_prop_lines
from lineflow.sources.base import EVENT_COLUMNS, FileMeta, ParseContext, ParseError, ProviderOutage
from lineflow.stages.base import RunContext, StageResult
from lineflow.warehouse.duckdb import LandedRow, StagedFile

#: Files staged per transaction, and rows: a commit per file cost more than parsing it.
BATCH_FILES = 500
BATCH_ROWS = 200_000


def run(ctx: RunContext) -> list[StageResult]:
    results = []
    for source in ctx.settings.active_sources():
        result = StageResult(f"process:{source.name}", "process", started_at=ctx.clock())
        results.append(result)
        module = sources.load(source)
        with ctx.warehouse.session():  # one connection for the source's files
            _register_dropped_files(ctx, source.name)
            _process_source(ctx, source, module, result)
        result.finished_at = ctx.clock()
    return results


def _register_dropped_files(ctx: RunContext, source: str) -> None:
    """Files put into the landing zone by hand (restored from a bucket, say) join the manifest,
    in one insert."""
    known = ctx.warehouse.landed_paths(source, ctx.partition)
    found = []
    for where in ctx.landing.discover(source, ctx.partition):
        if str(where) in known:
            continue
        body = ctx.landing.read(where)
        # A sidecar (landed by a run killed before its manifest row, or synced along with the
        # file) says how it was fetched; without one the pass time stands in.
        meta = ctx.landing.read_meta(where) or {}
        fetched_at = meta.get("fetched_at")
        found.append(
            LandedRow(
                path=str(where),
                file_id=file_id(body),
                source=source,
                endpoint=where.endpoint,
                slate_date=ctx.partition,
                pass_id=where.pass_id,
                bytes=len(body),
                url=meta.get("url"),
                http_status=meta.get("http_status"),
                fetched_at=datetime.fromisoformat(fetched_at)
                if fetched_at
                else pass_time(where.pass_id),
                run_id=ctx.run_id,
            )
        )
    ctx.warehouse.record_landed_many(found)


def source_events(ctx: RunContext, source: str, module: ModuleType) -> pl.DataFrame:
    """Every event this source listed for the partition, newest listing winning."""
    landed = ctx.warehouse.landed(ctx.partition, source)
    frames = []
    for file in landed.filter(pl.col("endpoint").is_in(list(module.EVENT_PARSERS))).iter_rows(
        named=True
    ):
        try:
            frames.append(module.EVENT_PARSERS[file["endpoint"]](ctx.landing.read(file["path"])))
        except ParseError:
            continue  # reported when the file itself is processed
    if not frames:
        return pl.DataFrame(schema=EVENT_COLUMNS)
    return pl.concat(frames).unique("event_id", keep="last", maintain_order=True)


def _process_source(
    ctx: RunContext, source: SourceConfig, module: ModuleType, result: StageResult
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
        markets=source.markets, books=source.books, events=source_events(ctx, source.name, module)
    )
    failures: list[str] = []
    batch: list[tuple[int, StagedFile]] = []
    rows_in_batch = 0
    for attempts, file in todo:
        try:
            staged = _parse_file(ctx, module, parse_ctx, file)
        except Exception as exc:  # I/O or a bug: nothing is committed, retry on a later run
            staged = StagedFile(file, _NO_ROWS, "retry", f"{type(exc).__name__}: {exc}")
        kill_point("before_stage_file")
        batch.append((attempts, staged))
        rows_in_batch += staged.frame.height
        if len(batch) >= BATCH_FILES or rows_in_batch >= BATCH_ROWS:
            _flush(ctx, batch, result, failures)
            batch, rows_in_batch = [], 0
    _flush(ctx, batch, result, failures)
    if failures:
        result.status = "partial"
        result.error = f"{len(failures)} of {result.files} files not loaded; first: {failures[0]}"


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
    """Parse errors are permanent (dead letter now); other errors retry with backoff."""
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
    result: StageResult,
    failures: list[str],
) -> None:
    """Stage a batch of parsed files and their ledger rows in one transaction, then record each
    file's attempt. A commit per file cost more than parsing it."""
    if not batch:
        return
    ctx.warehouse.stage_files(
        [staged for _, staged in batch if staged.status != "retry"], ctx.run_id, ctx.clock()
    )
    for attempts, staged in batch:
        kill_point("after_stage_file")
        file = staged.file
        result.files += 1
        result.rows += staged.frame.height
        _record_attempt(ctx, file, staged.status, staged.error, attempts, result)
        if staged.error is not None:
            failures.append(f"{file['path']}: {staged.error}")
            result.notes.append(f"{staged.status}: {file['path']}: {staged.error}")


#: Events files and failures stage no rows.
_NO_ROWS = empty_prop_lines()


def _parse_file(
    ctx: RunContext, module: ModuleType, parse_ctx: ParseContext, file: dict[str, Any]
) -> StagedFile:
    """One landed file parsed into what `stage_files` writes: rows, or why there are none."""
    endpoint = file["endpoint"]
    body = ctx.landing.read(file["path"])
    if endpoint in module.EVENT_PARSERS:
        try:
            module.EVENT_PARSERS[endpoint](body)
        except ParseError as exc:
            return StagedFile(file, _NO_ROWS, "failed", str(exc))
        return StagedFile(file, _NO_ROWS)
    parser = module.PROP_PARSERS.get(endpoint)
    if parser is None:
        return StagedFile(file, _NO_ROWS, "failed", f"no parser for endpoint {endpoint!r}")
    meta = FileMeta(
        file_id=file["file_id"],
        source=file["source"],
        endpoint=endpoint,
        slate_date=file["slate_date"],
        fetched_at=file["fetched_at"],
    )
    try:
        frame = parser(body, meta, parse_ctx)
    except ProviderOutage as exc:
        return StagedFile(file, _NO_ROWS, "outage", str(exc))
    except ParseError as exc:
        return StagedFile(file, _NO_ROWS, "failed", str(exc))
    staged = conform(frame.with_columns(file_id=pl.lit(file["file_id"]), run_id=pl.lit(ctx.run_id)))
    return StagedFile(file, staged)
