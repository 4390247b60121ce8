"""process: parse every landed file of the partition not yet in the ledger into staging.

Driven by the ledger of landed files, never by "this date already succeeded": a file that lands
after an earlier run is processed by the next one. A file that cannot be parsed is recorded with
its reason and the others go on.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import polars as pl

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.landing import file_id, pass_time
from lineflow.schema import conform, empty_prop_lines
from lineflow.sources.base import EVENT_COLUMNS, FileMeta, ParseContext, ParseError, ProviderOutage
from lineflow.stages.base import RunContext, StageResult
from lineflow.warehouse.duckdb import LandedRow, StagedFile

#: Files staged per transaction: a commit per file cost more than parsing it.
BATCH_FILES = 500
BATCH_ROWS = 200_000


def run(ctx: RunContext) -> list[StageResult]:
    results = []
    with ctx.warehouse.session():  # one connection for the stage, not one per source or file
        for source in ctx.settings.active_sources():
            result = StageResult(f"process:{source.name}", "process", started_at=ctx.clock())
            results.append(result)
            module = sources.load(source)
            _register_dropped_files(ctx, source.name)
            _process_source(ctx, source, module, result)
            result.finished_at = ctx.clock()
    return results


def _register_dropped_files(ctx: RunContext, source: str) -> None:
    """Files put into the landing zone by hand (restored from a bucket, say) join the manifest."""
    known = ctx.warehouse.landed_paths(source, ctx.partition)
    found = []
    for where in ctx.landing.discover(source, ctx.partition):
        if str(where) in known:
            continue
        body = ctx.landing.read(where)
        found.append(
            LandedRow(
                path=str(where),
                file_id=file_id(body),
                source=source,
                endpoint=where.endpoint,
                slate_date=ctx.partition,
                pass_id=where.pass_id,
                bytes=len(body),
                url=None,
                http_status=None,
                fetched_at=pass_time(where.pass_id),
                run_id=ctx.run_id,
            )
        )
    ctx.warehouse.record_landed_many(found)


def _events(ctx: RunContext, source: str, module: ModuleType) -> pl.DataFrame:
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
    parse_ctx = ParseContext(
        markets=source.markets, books=source.books, events=_events(ctx, source.name, module)
    )
    failures: list[str] = []
    batch: list[StagedFile] = []
    for file in pending.iter_rows(named=True):
        staged = _process_file(ctx, module, parse_ctx, file)
        batch.append(staged)
        result.files += 1
        result.rows += staged.frame.height
        if staged.error is not None:
            failures.append(f"{file['path']}: {staged.error}")
            result.notes.append(f"{staged.status}: {file['path']}: {staged.error}")
        if len(batch) >= BATCH_FILES or sum(s.frame.height for s in batch) >= BATCH_ROWS:
            ctx.warehouse.stage_files(batch, ctx.run_id, ctx.clock())
            batch = []
    ctx.warehouse.stage_files(batch, ctx.run_id, ctx.clock())
    if failures:
        result.status = "partial"
        result.error = f"{len(failures)} of {result.files} files not loaded; first: {failures[0]}"


def _process_file(
    ctx: RunContext, module: ModuleType, parse_ctx: ParseContext, file: dict[str, Any]
) -> StagedFile:
    """Parse one landed file into what `stage_files` writes (rows, or the reason there are none)."""
    endpoint = file["endpoint"]
    body = ctx.landing.read(file["path"])
    if endpoint in module.EVENT_PARSERS:
        try:
            module.EVENT_PARSERS[endpoint](body)
        except ParseError as exc:
            return _failed(file, "failed", str(exc))
        return StagedFile(file, _NO_ROWS)
    parser = module.PROP_PARSERS.get(endpoint)
    if parser is None:
        return _failed(file, "failed", f"no parser for endpoint {endpoint!r}")
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
        return _failed(file, "outage", str(exc))
    except ParseError as exc:
        return _failed(file, "failed", str(exc))
    staged = conform(frame.with_columns(file_id=pl.lit(file["file_id"]), run_id=pl.lit(ctx.run_id)))
    return StagedFile(file, staged)


#: Events files and failures stage no rows (`conform` of an empty frame would give one null row).
_NO_ROWS = empty_prop_lines()


def _failed(file: dict[str, Any], status: str, error: str) -> StagedFile:
    return StagedFile(file, _NO_ROWS, status, error)
