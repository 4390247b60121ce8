"""Per-source request limits: a token bucket (rate and burst) and a bound on concurrency.

One `SourceLimits` per source per process (`lineflow.http.session.process_limits`), so every
concurrent request of that source, in any scrape pass of any run in the process (a backfill's
parallel partitions), draws from the same bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. The clock and sleep are injectable."""

    def __init__(
        self,
        rate: float,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            # Reserve the token now (the balance may go negative): callers queue up in order
            # and each sleeps only for its own slot, outside the lock.
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class SourceLimits:
    """A source's bucket plus a semaphore bounding its requests in flight."""

    def __init__(self, bucket: TokenBucket, concurrency: int) -> None:
        self.bucket = bucket
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            yield
