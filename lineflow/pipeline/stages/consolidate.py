"""consolidate: make the partition's deduplicated staging rows what prop_lines shows.

One transaction: readers see the old partition or the new one, never a mix. Rows the validate
stage quarantined stay out. When staging holds exactly the files of the last consolidation, the
same rows are quarantined and the rules have not changed, nothing is rewritten.
"""

from __future__ import annotations

import hashlib

from lineflow.core.faults import kill_point
from lineflow.pipeline import figures
from lineflow.pipeline.stages.base import RunContext, StageResult, in_turn


def run(ctx: RunContext) -> list[StageResult]:
    # One warehouse session for the stage: each session opens and checkpoints the file, which
    # was most of what a rerun of a consolidated partition cost.
    with ctx.warehouse.session():
        return [_consolidate(ctx)]


def _consolidate(ctx: RunContext) -> StageResult:
    result = StageResult("consolidate", "consolidate", started_at=ctx.clock())
    # Right after validate, process's lock held since before validate read it: the staging
    # validate judged is still the partition's (one statement less).
    judged, ctx.handover.judged = ctx.handover.judged, None
    if judged is None or not in_turn(ctx, "process", "validate", "consolidate"):
        judged = ctx.warehouse.staging_fingerprint(ctx.partition)
    staged, _ = judged
    held = ctx.warehouse.quarantine_fingerprint(ctx.partition)
    rules = ctx.settings.rules_version()
    fingerprint = hashlib.md5(f"{staged}|{held}|{rules}".encode()).hexdigest()
    if ctx.warehouse.consolidated_fingerprint(ctx.partition) == fingerprint:
        result.notes.append("unchanged since the last consolidation")
        result.figures = figures.consolidated(ctx.warehouse, ctx.partition)
    else:
        done = ctx.warehouse.consolidate(ctx.partition, fingerprint, ctx.run_id, ctx.clock())
        kill_point("after_consolidate")
        # Counted in the consolidation's own transaction: the partition's lock keeps anyone
        # else from changing what it wrote, so reading it back through the view (a join of
        # staging with the file and drop lists, 9 ms a partition) would say the same.
        result.figures = figures.consolidation(done.files, done.rows)
    result.files = result.figures["files_consolidated"]
    result.rows = result.figures["rows_consolidated"]
    if held:
        quarantined = ctx.warehouse.query(
            "SELECT count(*) AS n FROM quarantine WHERE slate_date = ?", [ctx.partition]
        ).item()
        result.notes.append(f"{quarantined} quarantined rows left out")
    result.finished_at = ctx.clock()
    return result
