"""The shared warehouse: lineflow's tables in a DuckLake (`warehouse.kind=ducklake`).

The same tables, views and queries as the DuckDB warehouse (`lineflow.warehouse.duckdb`, whose
parts it reuses), in DuckDB's lakehouse format: a catalog in Postgres (or a DuckDB file on one
machine) and Parquet files under a folder or object-store URL. What differs is only what a lake
cannot do: it has no keys, so tables are created without them and every write that replaced a
key's row deletes and inserts it in one transaction (the DuckDB warehouse writes the same SQL);
and its commits are optimistic, so a write whose commit conflicted runs again
(`connection.LakeConnection.retrying`). Every commit is a snapshot: `lineflow query ... at=`
reads the tables as they were (`reading`), and `maintenance` compacts small files.

- `connection`: the extensions, the attach, conflicts and retries, snapshot readers;
- `maintenance`: merging small files, expiring old snapshots, deleting unused files.
"""

from lineflow.warehouse.duckdb import DuckDBWarehouse
from lineflow.warehouse.ducklake.connection import LakeConnection, LakeUnreachable


class DuckLakeWarehouse(LakeConnection, DuckDBWarehouse):
    """All tables of lineflow in a DuckLake: the DuckDB warehouse's parts on a lake connection."""


__all__ = ["DuckLakeWarehouse", "LakeUnreachable"]
