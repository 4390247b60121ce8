"""What the DuckDB client looks for in this process, settled once.

DuckDB's Python client imports pandas each time it binds a parameter, twice a value, to see
whether the value is a pandas object. Where pandas is not installed (lineflow does not need
it), each of those imports is a failed search of `sys.path`: about 35 us, 8,080 of them in a
40-date backfill, 0.28 s of the main process's CPU (docs/benchmarks.md). `mark_pandas_absent`
records the absence in `sys.modules` once: an `import pandas` then fails at once, with the
same `ModuleNotFoundError` it would have raised. Where pandas is installed nothing changes.
"""

from __future__ import annotations

import importlib.util
import sys


def mark_pandas_absent() -> None:
    """Make `import pandas` fail at once when pandas is not installed (see the module)."""
    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]
