"""lineflow: a declarative, config-driven batch framework for sports-betting lines pipelines.

From Python: `lineflow.run(date="2026-01-23", home="/tmp/lf")`, `lineflow.status(...)` and
`lineflow.backfill(...)` (`lineflow/api.py`). Importing the package is cheap: the API, and the
libraries it needs (polars, DuckDB, Hydra), load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lineflow.api import (
        BackfillResult,
        PartitionFigures,
        RunFailed,
        RunResult,
        StageFigures,
        backfill,
        run,
        status,
    )
    from lineflow.core.errors import ConfigError, LineflowError
    from lineflow.core.version import __version__

__all__ = [
    "BackfillResult",
    "ConfigError",
    "LineflowError",
    "PartitionFigures",
    "RunFailed",
    "RunResult",
    "StageFigures",
    "__version__",
    "backfill",
    "run",
    "status",
]

_API = {"BackfillResult", "PartitionFigures", "RunFailed", "RunResult", "StageFigures"}
_API |= {"backfill", "run", "status"}
_ERRORS = {"ConfigError", "LineflowError"}


def __getattr__(name: str) -> Any:
    """The public names, imported when first asked for (PEP 562)."""
    if name == "__version__":
        from lineflow.core.version import __version__

        return __version__
    if name in _API:
        from lineflow import api

        return getattr(api, name)
    if name in _ERRORS:
        from lineflow.core import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'lineflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
