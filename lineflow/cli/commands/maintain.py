"""`lineflow maintain`: compact a lake's small files and expire its old snapshots.

For `warehouse.kind=ducklake` only. A DuckDB file has nothing to compact: it is one file, and its
checkpoints free the blocks of deleted row groups for reuse (they do not merge partly filled row
groups: `VACUUM_TASKS` in lineflow/warehouse/duckdb/connection.py says why). Run it from the
scheduler, daily, not inside runs: see lineflow/warehouse/ducklake/maintenance.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="maintain",
    summary="compact a lake's small files and expire snapshots older than its retention",
    usage=("[key=value ...]",),
    about="""\
For warehouse.kind=ducklake: merge each table's small Parquet files, rewrite files that are
mostly deleted rows, expire snapshots older than warehouse.keep_snapshots_days (time travel with
`lineflow query ... at=` reaches back that far) and delete the files no kept snapshot reads.
Runs beside pipelines (a step that conflicts with a run's commit is run again); schedule it
daily.""",
    keys=(output_format(),),
    config=(("warehouse.keep_snapshots_days=30", "how far back time travel reaches"),),
    exit_codes=(
        "0 compacted, 2 bad input (not a lake), 4 the lake stayed busy with conflicting commits"
    ),
    examples=("lineflow maintain warehouse.kind=ducklake warehouse.catalog_env=LAKE_CATALOG",),
)


def main(args: Parsed) -> int:
    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.reporting.output import emit
    from lineflow.warehouse import open_warehouse
    from lineflow.warehouse.ducklake import DuckLakeWarehouse
    from lineflow.warehouse.ducklake.maintenance import compact

    if args.words:
        raise ConfigError(f"maintain: unexpected word {args.words[0]!r} (keys are key=value)")
    settings = compose(args.overrides)
    lake = open_warehouse(settings.warehouse, settings.locks.wait_s)
    if not isinstance(lake, DuckLakeWarehouse):
        raise ConfigError(
            "maintain: the warehouse is a DuckDB file, which needs no maintenance "
            "(warehouse.kind=ducklake has small files to compact)"
        )
    keep = settings.warehouse.keep_snapshots_days
    done = compact(lake, keep)
    if args.values["format"] == "json":
        emit(
            {
                "warehouse": lake.where,
                "files_read": [done.files_before, done.files_after],
                "files_stored": [done.stored_before, done.stored_after],
                "snapshots_expired": done.snapshots_expired,
                "keep_snapshots_days": keep,
            }
        )
        return 0
    print(
        f"{lake.where}: files read by the current snapshot {done.files_before} -> "
        f"{done.files_after}; files stored {done.stored_before} -> {done.stored_after}; "
        f"{done.snapshots_expired} snapshots expired "
        f"(kept: the last {keep:g} days)"
    )
    return 0
