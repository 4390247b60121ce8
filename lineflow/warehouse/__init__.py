"""Warehouses: where the tables live. DuckDB locally; BigQuery is the publish target in prod.

Both implement `lineflow.warehouse.base.Warehouse`; `lineflow.warehouse.bigquery` is imported
only where BigQuery is used, so local runs never load the Google client.
"""

from lineflow.warehouse.base import Column, SchemaMismatch, TableSpec, Warehouse
from lineflow.warehouse.duckdb import DuckDBWarehouse

__all__ = ["Column", "DuckDBWarehouse", "SchemaMismatch", "TableSpec", "Warehouse"]
