"""consolidate: replace the partition in prop_lines with the deduplicated staging rows.

One transaction: readers see the old partition or the new one, never a mix. When staging holds
exactly the files of the last consolidation, nothing is rewritten.
"""

from __future__ import annotations

from lineflow.stages.base import RunContext, StageResult


def run(ctx: RunContext) -> list[StageResult]:
    # One warehouse session for the stage: each session opens and checkpoints the file, which
    # was most of what a rerun of a consolidated partition cost.
    with ctx.warehouse.session():
        return [_consolidate(ctx)]


def _consolidate(ctx: RunContext) -> StageResult:
    result = StageResult("consolidate", "consolidate", started_at=ctx.clock())
    fingerprint, _ = ctx.warehouse.staging_fingerprint(ctx.partition)
    if ctx.warehouse.consolidated_fingerprint(ctx.partition) == fingerprint:
        result.notes.append("unchanged since the last consolidation")
    else:
        ctx.warehouse.consolidate(ctx.partition, fingerprint, ctx.run_id, ctx.clock())
    counts = ctx.warehouse.query(
        "SELECT count(*) AS rows, count(DISTINCT file_id) AS files FROM prop_lines "
        "WHERE slate_date = ?",
        [ctx.partition],
    ).row(0, named=True)
    result.rows, result.files = int(counts["rows"]), int(counts["files"])
    result.finished_at = ctx.clock()
    return result
