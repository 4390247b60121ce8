"""Warehouses: where the tables live. DuckDB locally; BigQuery is the publish target in prod."""

from lineflow.warehouse.duckdb import DuckDBWarehouse

__all__ = ["DuckDBWarehouse"]
