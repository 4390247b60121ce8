"""Per-source request limits: a token bucket (rate and burst) and a bound on concurrency.

One `SourceLimits` per source per process (`lineflow.http.session.process_limits`), so every
concurrent request of that source, in any scrape pass of any run in the process (a backfill's
parallel partitions), draws from the same bucket. The bucket is anything with `acquire()`
(`Bucket`): a process's own `TokenBucket` by default; a program whose processes share one
provider key across machines (a backfill on a Ray cluster, `lineflow.pipeline.distributed`)
installs `shared_buckets(...)` so that they all draw from one bucket, which reserves a slot and
leaves the wait to the caller (`TokenBucket.reserve`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Bucket(Protocol):
    """What a client asks before each request: take one token, waiting for it."""

    def acquire(self) -> float: ...


#: Makes the bucket of (source, tokens per second, burst) for this process.
BucketFactory = Callable[[str, float, int], Bucket]


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
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self) -> float:
        """Take one token now and return how long its holder must wait before using it
        (0: at once). Waits are durations, so a holder on another machine, whose clock is not
        this one, may sleep them itself."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            # Reserve the token now (the balance may go negative): callers queue up in order
            # and each sleeps only for its own slot, outside the lock.
            self._tokens -= 1
            return -self._tokens / self.rate if self._tokens < 0 else 0.0


class SourceLimits:
    """A source's bucket plus a semaphore bounding its requests in flight."""

    def __init__(self, bucket: Bucket, concurrency: int) -> None:
        self.bucket = bucket
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            yield


def _own_bucket(_source: str, rate: float, burst: int) -> Bucket:
    return TokenBucket(rate, burst)


_factory: BucketFactory = _own_bucket


def process_bucket(source: str, rate: float, burst: int) -> Bucket:
    """The bucket this process's requests of `source` draw from: its own unless a shared one
    was installed (`shared_buckets`)."""
    return _factory(source, rate, burst)


def shared_buckets(factory: BucketFactory | None) -> None:
    """Install, for the rest of this process, where its sources' buckets come from (None: each
    process its own again). Install before the first request: a source's limits are made once
    per process."""
    global _factory
    _factory = factory or _own_bucket
