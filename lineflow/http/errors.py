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
