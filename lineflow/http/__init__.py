"""The HTTP layer: live, record and replay modes behind one client; proxy chains, breakers,
limits and quota inside it; secrets never leave it."""

from lineflow.core.errors import (  # the HTTP layer's errors, drawn with the whole tree there
    Blocked,
    HttpError,
    MissingSecret,
    QuotaExhausted,
    ReplayMiss,
    RequestFailed,
)
from lineflow.http.client import Response, SourceClient, classify
from lineflow.http.secrets import REDACTED, Redactor
from lineflow.http.session import HttpLayer

__all__ = [
    "REDACTED",
    "Blocked",
    "HttpError",
    "HttpLayer",
    "MissingSecret",
    "QuotaExhausted",
    "Redactor",
    "ReplayMiss",
    "RequestFailed",
    "Response",
    "SourceClient",
    "classify",
]
