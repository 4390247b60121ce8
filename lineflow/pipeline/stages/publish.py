"""publish (prod): copy the partition of each configured table from DuckDB to BigQuery.

Each table's partition replaces the target's partition whole (see lineflow.warehouse.bigquery),
so a rerun or a retry never duplicates a row. Tables this warehouse does not have (yet) are
skipped with a note. run_history goes last and carries this stage's own row, so BigQuery and
DuckDB hold the same history once the run ends.
"""

from __future__ import annotations

import polars as pl

from lineflow.config import Settings
from lineflow.core.errors import ConfigError
from lineflow.pipeline.stages.base import RunContext, StageResult
from lineflow.warehouse.base import Warehouse

HISTORY = "run_history"


def check(settings: Settings) -> None:
    """Fail before any write when the target is not configured."""
    try:
        import google.cloud.bigquery  # noqa: F401
    except ImportError:
        raise ConfigError(
            "pipeline.stages: publish needs google-cloud-bigquery (pip install 'lineflow[prod]')"
        ) from None
    if settings.bigquery.project is None:
        raise ConfigError("bigquery.project: required by the publish stage (bigquery.project=NAME)")
    if not settings.publish.tables:
        raise ConfigError("publish.tables: no table to publish")


def run(ctx: RunContext, target: Warehouse | None = None) -> list[StageResult]:
    from lineflow.warehouse.bigquery import BigQueryWarehouse

    result = StageResult("publish", "publish", started_at=ctx.clock())
    own = BigQueryWarehouse.from_config(ctx.settings.bigquery) if target is None else None
    sink: Warehouse = target if target is not None else own  # type: ignore[assignment]
    try:
        for table, options in ctx.settings.publish.tables.items():
            if table != HISTORY:
                _publish(ctx, sink, table, tuple(options.cluster_by), result)
        if HISTORY in ctx.settings.publish.tables:
            _publish(
                ctx, sink, HISTORY, tuple(ctx.settings.publish.tables[HISTORY].cluster_by), result
            )
    finally:
        if own is not None:
            own.close()
    result.finished_at = result.finished_at or ctx.clock()
    return [result]


def _publish(
    ctx: RunContext,
    target: Warehouse,
    table: str,
    cluster_by: tuple[str, ...],
    result: StageResult,
) -> None:
    spec = ctx.warehouse.table_spec(table)
    if spec is None:
        result.notes.append(f"{table}: not in this warehouse, skipped")
        return
    missing = [c for c in cluster_by if c not in spec.column_names]
    if missing:
        result.notes.append(f"{table}: not clustering on missing columns {', '.join(missing)}")
    spec = ctx.warehouse.table_spec(table, tuple(c for c in cluster_by if c not in missing))
    assert spec is not None
    rows = ctx.warehouse.read_partition(table, ctx.partition)
    if table == HISTORY:
        # This stage's own row, finished now: the runner records the same row in DuckDB.
        result.files += 1
        result.rows += rows.height + 1
        result.notes.append(f"{table}: {rows.height + 1} rows")
        result.finished_at = ctx.clock()
        mine = pl.DataFrame([vars(result.row(ctx.run_id, ctx.partition))])
        rows = pl.concat([rows, mine.select(rows.columns).cast(rows.schema)])  # type: ignore[arg-type]
    else:
        result.files += 1
        result.rows += rows.height
        result.notes.append(f"{table}: {rows.height} rows")
    added = target.ensure_table(spec)
    if added:
        result.notes.append(f"{table}: added columns {', '.join(c.name for c in added)}")
    target.replace_partition(spec, ctx.partition, rows)
