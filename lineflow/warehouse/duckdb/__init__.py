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
- `literals`: values written into statements as SQL literals, where binding costs more;
- `warehouse`: `DuckDBWarehouse`, the parts above as one class.

The row types load nothing else; the other names load DuckDB, when first asked for (PEP 562):
a parse worker builds manifest rows and ledger outcomes, and has no use for DuckDB (its import
was a tenth of the worker's start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lineflow.warehouse.duckdb.rows import LandedRow, RunRow, StagedFile, Validated, landed_frame

if TYPE_CHECKING:
    from lineflow.warehouse.duckdb.connection import WarehouseBusy
    from lineflow.warehouse.duckdb.predictions import PredictionBatch, PredictionInputs
    from lineflow.warehouse.duckdb.warehouse import DuckDBWarehouse

#: name -> the module of this package that defines it
_LAZY = {
    "DuckDBWarehouse": "warehouse",
    "PredictionBatch": "predictions",
    "PredictionInputs": "predictions",
    "WarehouseBusy": "connection",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


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
