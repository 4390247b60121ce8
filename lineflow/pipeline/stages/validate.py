"""validate: run conf/rules over the partition's staging; quarantine rows; judge line quality.

Writes, in one transaction: one `validation_results` row per rule, the partition's `quarantine`
(rows failing quarantine rules, with the rule id and their file_id) and its `line_quality`
(the gate for predictions). It re-evaluates from staging whenever an input changed (staged
files, rules or gate thresholds, the schedule, blocked sources), so after a rule change rows
that now pass leave quarantine and the next consolidation lets them in. When nothing changed
(a rerun), it says again what it concluded last time and writes nothing; `refresh=true`
re-evaluates anyway.

Status: `failed` when a blocking rule fails (later stages of the partition do not run; the
error names the rule), `partial` when an error- or quarantine-severity rule fails its threshold,
else `success`. Warnings never change the status.
"""

from __future__ import annotations

import hashlib

import polars as pl

from lineflow import sources
from lineflow.core.schema import PROP_LINES
from lineflow.core.slate import slate_window
from lineflow.pipeline import figures
from lineflow.pipeline.stages.base import RunContext, StageResult
from lineflow.pipeline.stages.process import landed_files, source_events
from lineflow.rules import Circumstances, Evaluation, evaluate, line_quality
from lineflow.warehouse.duckdb import Validated
from lineflow.warehouse.duckdb.staging import ValidationInputs


def run(ctx: RunContext) -> list[StageResult]:
    result = StageResult("validate", "validate", started_at=ctx.clock())
    rules = ctx.settings.rule_list()
    handed, ctx.handover.staged = ctx.handover.staged, None  # not kept past this stage
    with ctx.warehouse.session():
        inputs = ctx.warehouse.validation_inputs(ctx.partition)
        blocked, scraped = inputs.blocked, inputs.scraped
        staged = ctx.warehouse.staging_fingerprint(ctx.partition)
        ctx.handover.judged = staged  # consolidate's, if it comes next
        fingerprint = _fingerprint(ctx, staged, inputs)
        last = None if ctx.request.refresh else ctx.warehouse.last_validation(ctx.partition)
        if last is not None and last.fingerprint == fingerprint:
            result.status, result.error, result.rows = last.status, last.error, last.rows
            result.notes = [*last.notes, unchanged_since(last.run_id)]
            result.figures = figures.verdicts(ctx.warehouse, ctx.partition)
            result.finished_at = ctx.clock()
            return [result]
        facts = Circumstances(games=_games(ctx), blocked=blocked, scraped=scraped)
        if handed is not None and handed.fingerprint == staged:
            staging = handed.rows  # what process staged is still all there is
        else:
            staging = ctx.warehouse.staging(ctx.partition)
    # The rules run outside the session: another partition's thread may write meanwhile.
    evaluation = evaluate(rules, staging, facts)
    quarantined = evaluation.quarantine(PROP_LINES)
    quality = line_quality(staging, ctx.settings.line_quality)
    result.rows = staging.height
    _report(result, evaluation, quarantined, quality)
    ctx.warehouse.record_validation(
        ctx.partition,
        ctx.run_id,
        ctx.clock(),
        evaluation.results(),
        quarantined,
        quality,
        Validated(fingerprint, result.status, result.error, result.notes, result.rows),
    )
    # What was just written, counted from the frames written: the partition's lock keeps
    # anyone else from changing its staging, quarantine or line quality meanwhile, so the
    # four counts `figures.verdicts` reads back would say the same.
    result.figures = figures.verdict_counts(
        staging.height,
        quarantined.height,
        quality.height,
        quality.filter(~pl.col("passed")).height,
    )
    result.finished_at = ctx.clock()
    return [result]


def _fingerprint(ctx: RunContext, staged: tuple[str, int], inputs: ValidationInputs) -> str:
    """A digest of everything the rules and the gate read: the staged files, the rules'
    version, the partition's landed files (among them the schedules, whose content decides the
    games) and the blocks. Worked out without parsing anything, so that a rerun with nothing
    new costs little."""
    files, rows = staged
    text = (
        f"{files}|{rows}|{ctx.settings.rules_version()}|{inputs.landed}|"
        f"{sorted(inputs.blocked.items())}|{sorted(inputs.scraped)}"
    )
    return hashlib.md5(text.encode()).hexdigest()


def _games(ctx: RunContext) -> int | None:
    """Games on the partition's slate by the largest schedule a source landed; None if none."""
    games: int | None = None
    start, end = slate_window(ctx.partition)
    for source in ctx.request.active_sources(ctx.settings):
        loaded = sources.load(source)
        endpoints = landed_files(ctx, source.name).get_column("endpoint")
        if not endpoints.is_in(list(loaded.event_parsers)).any():
            continue  # this source's schedule never landed: it tells nothing
        tips = source_events(ctx, loaded).get_column("commence_time")
        on_slate = int(tips.is_between(start, end, closed="left").sum())
        games = max(games or 0, on_slate)
    return games


def _report(
    result: StageResult, evaluation: Evaluation, quarantined: pl.DataFrame, quality: pl.DataFrame
) -> None:
    findings = evaluation.findings
    judged = [f for f in findings if f.outcome != "pass"]
    for f in judged:
        sample = f"; e.g. {f.samples[0]}" if f.samples else ""
        result.notes.append(f"{f.rule.id} ({f.rule.severity}) {f.outcome}: {f.detail}{sample}")
    if quarantined.height:
        per_rule = quarantined.group_by("rule_id").len().sort("rule_id")
        counts = ", ".join(f"{r} {n}" for r, n in per_rule.iter_rows())
        result.notes.append(f"quarantined {quarantined.height} rows ({counts})")
    failing = quality.filter(~pl.col("passed"))
    if quality.height:
        shown = ", ".join(
            f"{row['player_name']} {row['market'].removeprefix('player_')} "
            f"({'/'.join(row['reasons'])})"
            for row in failing.head(8).iter_rows(named=True)
        )
        more = f", +{failing.height - 8} more" if failing.height > 8 else ""
        result.notes.append(
            f"line quality: {failing.height} of {quality.height} player markets fail"
            + (f": {shown}{more}" if failing.height else "")
        )
    blocking = evaluation.blocking_failures()
    if blocking:
        first = blocking[0]
        result.status = "failed"
        result.error = (
            f"blocking rule {first.rule.id!r} failed: {first.detail}; "
            "later stages of the partition did not run"
        )
    elif evaluation.failures("error", "quarantine"):
        names = ", ".join(f.rule.id for f in evaluation.failures("error", "quarantine"))
        result.status = "partial"
        result.error = f"rules failed: {names}"


UNCHANGED = "unchanged since the last validation"


def unchanged_since(run_id: str) -> str:
    """What a rerun whose inputs did not change says (also said for a complete partition)."""
    return f"{UNCHANGED} ({run_id})"
