"""Errors raised by the HTTP layer. Messages never contain a secret."""

from __future__ import annotations

from lineflow.errors import ConfigError, LineflowError


class HttpError(LineflowError):
    """A request could not be completed."""


class ReplayMiss(HttpError):
    """Replay mode: the cassettes hold no response for this request."""


class MissingSecret(ConfigError):
    """A live request needs a secret whose environment variable is not set."""


class RequestFailed(HttpError):
    """Every attempt failed (connection errors, timeouts, or retryable statuses)."""


class Blocked(HttpError):
    """Every link of the source's proxy chain refused us (or is cooling down after refusing)."""


class QuotaExhausted(HttpError):
    """The source's paid quota is at its floor or spent: no further calls."""
