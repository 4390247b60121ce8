"""Polars frames handed to DuckDB without pyarrow.

DuckDB reads a registered polars DataFrame through `DataFrame.to_arrow()`, which imports
pyarrow: 0.2-0.3 s of CPU in the first statement that does it, more than any stage of the
offline demo but predict (docs/benchmarks.md). A frame's Arrow C stream (the PyCapsule
interface) DuckDB reads directly, with the same columns and values.

Invariant: a stream is read once. Register it for one statement that scans it once; a second
scan is DuckDB's "already been consumed" error, never wrong rows.
"""

from __future__ import annotations

from typing import Any

import polars as pl


def arrow_stream(frame: pl.DataFrame) -> Any:
    """The frame as `DuckDBPyConnection.register` takes it without importing pyarrow."""
    return frame.__arrow_c_stream__()
