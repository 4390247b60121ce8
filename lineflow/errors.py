"""Errors the CLI turns into one line and an exit code.

Each package raises its own subclasses where the cause is known; the CLI only looks at
`exit_code` and `str(error)`.
"""

from __future__ import annotations


class LineflowError(Exception):
    """Base of every error lineflow reports to a user."""

    exit_code = 1


class ConfigError(LineflowError):
    """Bad input: a malformed config, an unknown key, a wrong type, an impossible date."""

    exit_code = 2


class StageError(LineflowError):
    """A stage could not complete; the run is reported as failed."""

    exit_code = 1
