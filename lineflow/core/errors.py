"""Every error lineflow raises, in one tree; the CLI turns them into one line and an exit code.

```
LineflowError                   exit 1 unless said otherwise; str(error) is the one line
├── PermanentError              retrying cannot fix it: a unit of work is dead-lettered at once
│   ├── ConfigError             bad input: config, key, type, date (exit 2)
│   │   └── MissingSecret       a live request needs a secret that is not set
│   ├── ParseError              a response body cannot be parsed: corrupt, truncated, wrong shape
│   └── SourceFailed            the provider answered with an error retrying cannot fix (4xx)
├── TransientError              a later attempt may succeed: the unit of work backs off, retries
│   ├── ProviderOutage          a 200 whose body says the provider is down
│   ├── StageError              a stage failed (the run reports it; a trigger is redelivered)
│   ├── RequestFailed*          every attempt failed: connection errors, timeouts, 5xx
│   ├── QuotaExhausted*         the paid quota is at its floor or spent, until it renews
│   └── ReplayMiss*             replay: no recorded response (recording one fixes it)
├── Blocked*                    the provider refuses us (403/407, a challenge page): its own
│                               status, neither retried nor dead-lettered but cooled down
└── HttpError                   * raised by the HTTP layer (named in `lineflow.http`)
```

The family is the whole retry-or-dead-letter decision (`lineflow.state.work.is_permanent`): a
`PermanentError` goes to the dead letters on its first failure; everything else, an exception
lineflow does not know included (a bug, an I/O error), backs off and is tried again, so that a
fix deployed meanwhile is picked up without replaying a dead letter.

Errors that only their own package raises and handles (`LockHeld`, `WarehouseBusy`,
`LandingConflict`, `PublishError`, `SchemaMismatch`, `MailError`, and the Python API's
`RunFailed`) live beside their code, under `LineflowError`. Messages never contain a secret.
"""

from __future__ import annotations


class LineflowError(Exception):
    """Base of every error lineflow reports to a user."""

    exit_code = 1


# -- the families ----------------------------------------------------------------------------


class PermanentError(LineflowError):
    """Retrying cannot fix it: the unit of work goes to the dead letters at once."""


class TransientError(LineflowError):
    """A later attempt may succeed: the unit of work backs off and is tried again."""


# -- permanent -------------------------------------------------------------------------------


class ConfigError(PermanentError):
    """Bad input: a malformed config, an unknown key, a wrong type, an impossible date."""

    exit_code = 2


class MissingSecret(ConfigError):
    """A live request needs a secret whose environment variable is not set."""


class ParseError(PermanentError):
    """The response body cannot be parsed: corrupt, truncated, or not the expected shape."""


class SourceFailed(PermanentError):
    """The provider answered with an error that retrying cannot fix (bad key, 4xx)."""


# -- transient -------------------------------------------------------------------------------


class ProviderOutage(TransientError):
    """The provider answered 200 but the body says it is down (BettingPros ``["error"]`` pages)."""


class StageError(TransientError):
    """A stage could not complete; the run is reported as failed."""


# -- the HTTP layer --------------------------------------------------------------------------


class HttpError(LineflowError):
    """A request could not be completed (the HTTP layer's errors; each is also of a family)."""


class RequestFailed(HttpError, TransientError):
    """Every attempt failed (connection errors, timeouts, or retryable statuses)."""


class QuotaExhausted(HttpError, TransientError):
    """The source's paid quota is at its floor or spent: no further calls until it renews."""


class ReplayMiss(HttpError, TransientError):
    """Replay mode: the cassettes hold no response for this request."""


class Blocked(HttpError):
    """The provider refuses us: every link of the source's proxy chain answered 403/407 or a
    challenge page (or is cooling down after refusing). Not the same as no data, not a failure
    to retry at once: the scrape reports `blocked` and asks again after a cooldown."""
