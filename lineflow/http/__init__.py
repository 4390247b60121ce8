"""The HTTP layer: live, record and replay modes behind one client; secrets never leave it."""

from lineflow.http.client import Response, SourceClient, classify
from lineflow.http.errors import HttpError, MissingSecret, ReplayMiss, RequestFailed
from lineflow.http.secrets import REDACTED, Redactor
from lineflow.http.session import HttpLayer

__all__ = [
    "REDACTED",
    "HttpError",
    "HttpLayer",
    "MissingSecret",
    "Redactor",
    "ReplayMiss",
    "RequestFailed",
    "Response",
    "SourceClient",
    "classify",
]
