"""The local warehouse: one DuckDB file holding the manifest, ledgers, staging and main tables.

Split by concern, each a part of `DuckDBWarehouse`:

- `schema`: every table and view, the upgrades of older files, publish-target DDL;
- `connection`: the session, its file lock and the hand-over between threads and processes;
- `ledger`: the landing manifest and the processing ledger;
- `staging`: staged rows, validation records, quarantine and consolidation;
- `runs`: run history and blocked resources;
- `predictions`: prediction batches, what they read, their rows and what they supersede;
- `reads`: the warehouse protocol (table specs, partitions) and ad-hoc queries;
- `rows`: the row types the others take and give back;
- `literals`: values written into statements as SQL literals, where binding costs more.
"""

from lineflow.warehouse.duckdb.connection import WarehouseBusy
from lineflow.warehouse.duckdb.ledger import Ledger
from lineflow.warehouse.duckdb.predictions import PredictionBatch, PredictionInputs, Predictions
from lineflow.warehouse.duckdb.reads import Tables
from lineflow.warehouse.duckdb.rows import LandedRow, RunRow, StagedFile, Validated, landed_frame
from lineflow.warehouse.duckdb.runs import RunRecords
from lineflow.warehouse.duckdb.staging import Staging


class DuckDBWarehouse(Ledger, Staging, RunRecords, Predictions, Tables):
    """All tables of one lineflow home; every method runs in a session (`SharedConnection`)."""


__all__ = [
    "DuckDBWarehouse",
    "LandedRow",
    "PredictionBatch",
    "PredictionInputs",
    "RunRow",
    "StagedFile",
    "Validated",
    "WarehouseBusy",
    "landed_frame",
]
