"""The HTTP layer's errors. They are defined with the whole error tree in `lineflow.errors`
(which draws it) and named here for the modules that raise them. Messages never contain a
secret."""

from __future__ import annotations

from lineflow.errors import (
    Blocked,
    HttpError,
    MissingSecret,
    QuotaExhausted,
    ReplayMiss,
    RequestFailed,
)

__all__ = [
    "Blocked",
    "HttpError",
    "MissingSecret",
    "QuotaExhausted",
    "ReplayMiss",
    "RequestFailed",
]
