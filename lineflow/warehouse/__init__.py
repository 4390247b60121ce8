"""Warehouses: where the tables live. A DuckDB file locally, or a DuckLake shared by several
processes and machines (`warehouse.kind`); BigQuery is the publish target in prod.

All implement `lineflow.warehouse.base.Warehouse`; `lineflow.warehouse.bigquery` is imported
only where BigQuery is used, so local runs never load the Google client. `open_warehouse` is
the one place that picks the kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lineflow.warehouse.base import Column, SchemaMismatch, TableSpec, Warehouse

if TYPE_CHECKING:
    from lineflow.config import WarehouseConfig
    from lineflow.warehouse.duckdb import DuckDBWarehouse


def __getattr__(name: str) -> Any:
    """`DuckDBWarehouse` when first asked for (PEP 562): its modules load DuckDB, which the
    row types of `lineflow.warehouse.duckdb` (all a parse worker uses) do not need."""
    if name == "DuckDBWarehouse":
        from lineflow.warehouse.duckdb.warehouse import DuckDBWarehouse

        return DuckDBWarehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_warehouse(config: WarehouseConfig, wait_s: float | None = None) -> DuckDBWarehouse:
    """The warehouse `warehouse:` describes (nothing is connected until its first session);
    `wait_s` (`locks.wait_s`): how long to wait for another program holding its file."""
    if config.kind == "ducklake":
        from lineflow.warehouse.ducklake import DuckLakeWarehouse

        return DuckLakeWarehouse.configured(config, wait_s)
    from lineflow.warehouse.duckdb.warehouse import DuckDBWarehouse

    return DuckDBWarehouse.configured(config, wait_s)


__all__ = [
    "Column",
    "DuckDBWarehouse",
    "SchemaMismatch",
    "TableSpec",
    "Warehouse",
    "open_warehouse",
]
