"""`DuckDBWarehouse`: the local warehouse's parts (this package's modules) as one class."""

from lineflow.warehouse.duckdb.ledger import Ledger
from lineflow.warehouse.duckdb.predictions import Predictions
from lineflow.warehouse.duckdb.reads import Tables
from lineflow.warehouse.duckdb.runs import RunRecords
from lineflow.warehouse.duckdb.staging import Staging


class DuckDBWarehouse(Ledger, Staging, RunRecords, Predictions, Tables):
    """All tables of one lineflow home; every method runs in a session (`SharedConnection`)."""
