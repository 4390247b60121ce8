"""Keeping a DuckLake from becoming a million small files: DuckLake's own maintenance.

Every commit writes its own Parquet files (a data file per table inserted into, a delete file
per file deleted from; fewer than 10 rows go into the catalog instead: data inlining). A
partition's run commits a few dozen times, and replacing a partition's rows leaves delete
files, so a season of runs, or a day of `lineflow serve` triggers, leaves thousands of small
files that every query opens. `compact` runs, in this order:

1. `ducklake_merge_adjacent_files`: each table's small files merged into few; time travel is
   intact (the merged file keeps which snapshot wrote each row);
2. `ducklake_rewrite_data_files`: files that are mostly deleted rows rewritten without them;
3. `ducklake_expire_snapshots` older than `warehouse.keep_snapshots_days`: time travel
   (`lineflow query ... at=`) reaches back that far, no further;
4. `ducklake_cleanup_old_files`: deletes the files no kept snapshot uses, once they have been
   unused for `GRACE_DAYS` (a reader that began before may still read them), or at once when
   no snapshot is kept.

It runs as `lineflow maintain`, from the scheduler (daily), never inside a run: a compaction is
a commit that conflicts with concurrent deletes from the same tables, so compacting after each
consolidation would make concurrent runs retry each other's commits. Each step is its own
commit and is run again when it conflicted with a run's (`LakeConnection.retrying`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lineflow.warehouse.ducklake.connection import LakeConnection

#: How long a file no kept snapshot uses stays on disk before it is deleted: a query that began
#: before the snapshot expired may still be reading it.
GRACE_DAYS = 1.0


@dataclass(frozen=True)
class Compaction:
    """What `compact` did: the data files the current snapshot reads before and after, the
    files on storage before and after, and the snapshots expired."""

    files_before: int
    files_after: int
    stored_before: int
    stored_after: int
    snapshots_expired: int


def live_files(lake: LakeConnection) -> int:
    """Data and delete files the current snapshot of every table reads."""
    with lake.session():
        row = lake.con.execute(
            "SELECT coalesce(sum(file_count + delete_file_count), 0) "
            "FROM ducklake_table_info('warehouse')"
        ).fetchone()
    return int(row[0]) if row else 0


def stored_files(lake: LakeConnection) -> int:
    """Parquet files under the lake's data path: those some snapshot reads, and those no kept
    snapshot reads that are not deleted yet."""
    pattern = f"{lake.lake.data_path}**/*.parquet".replace("'", "''")
    with lake.session():
        row = lake.con.execute(f"SELECT count(*) FROM glob('{pattern}')").fetchone()
    return int(row[0]) if row else 0


def compact(lake: LakeConnection, keep_snapshots_days: float) -> Compaction:
    """Merge, rewrite, expire and clean up (the module's steps 1-4)."""
    before, stored = live_files(lake), stored_files(lake)
    keep = f"INTERVAL '{keep_snapshots_days * 86400:.0f} seconds'"
    grace = f"INTERVAL '{min(keep_snapshots_days, GRACE_DAYS) * 86400:.0f} seconds'"
    with lake.session():
        con = lake.con
        lake.retrying(lambda: con.execute("CALL ducklake_merge_adjacent_files('warehouse')"))
        lake.retrying(lambda: con.execute("CALL ducklake_rewrite_data_files('warehouse')"))
        expired = lake.retrying(
            lambda: con.execute(
                f"CALL ducklake_expire_snapshots('warehouse', older_than => now() - {keep})"
            ).fetchall()
        )
        lake.retrying(
            lambda: con.execute(
                f"CALL ducklake_cleanup_old_files('warehouse', older_than => now() - {grace})"
            )
        )
    return Compaction(before, live_files(lake), stored, stored_files(lake), len(expired))
