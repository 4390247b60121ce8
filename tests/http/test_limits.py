"""The per-source token bucket, on a fake clock: no real waiting."""

from __future__ import annotations

import threading

from lineflow.http.limits import SourceLimits, TokenBucket
from tests.proxied import FakeClock


def test_the_burst_goes_at_once_then_requests_are_paced_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, monotonic=clock.monotonic, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits == [0, 0, 0, 0.5, 0.5, 0.5]
    assert clock.elapsed == 1.5


def test_idle_time_refills_up_to_the_burst_only():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=2, monotonic=clock.monotonic, sleep=clock.sleep)
    bucket.acquire(), bucket.acquire()
    clock.elapsed += 60  # a long pause saves up 2 tokens, not 60
    assert [bucket.acquire() for _ in range(3)] == [0, 0, 1.0]


def test_concurrent_callers_share_one_bucket():
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)

    bucket = TokenBucket(rate=10, burst=1, monotonic=lambda: 0.0, sleep=sleep)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    # One token free, then each caller reserves the next slot: 0.1 s apart, none shared.
    assert sorted(round(s, 6) for s in slept) == [0.1, 0.2, 0.3, 0.4]


def test_no_rate_means_no_waiting():
    clock = FakeClock()
    bucket = TokenBucket(rate=0, burst=1, monotonic=clock.monotonic, sleep=clock.sleep)
    assert sum(bucket.acquire() for _ in range(100)) == 0 and clock.sleeps == []


def test_concurrency_is_bounded_per_source():
    limits = SourceLimits(TokenBucket(0, 1), concurrency=2)
    inside, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def request() -> None:
        with limits.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            release.wait(timeout=5)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(5)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(timeout=5)
    assert peak[0] <= 2 and inside[0] == 0


def test_runs_in_one_process_share_each_sources_limits(tmp_path):
    """A backfill runs partitions in parallel threads, each with its own HTTP layer: on the
    real clock they draw from one bucket and one set of slots per source, so the configured
    rate and concurrency hold for the process, not per partition."""
    from datetime import UTC, datetime

    from lineflow.config import compose
    from lineflow.http import HttpLayer

    settings = compose([f"home={tmp_path}"])
    odds_api = settings.sources["odds_api"]

    def wall() -> datetime:
        return datetime.now(UTC)

    first, second = HttpLayer(settings, wall), HttpLayer(settings, wall)
    assert first.limits(odds_api) is second.limits(odds_api)
    assert first.limits(odds_api) is not first.limits(settings.sources["bettingpros"])
    # Other limits in the config are other limits; an injected clock keeps its own bucket.
    slower = compose([f"home={tmp_path}", "sources.odds_api.rate_limit.per_second=1"])
    assert HttpLayer(slower, wall).limits(slower.sources["odds_api"]) is not first.limits(odds_api)
    clock = FakeClock()
    faked = HttpLayer(settings, clock.now, clock.sleep, clock.monotonic)
    assert faked.limits(odds_api) is not first.limits(odds_api)
    assert faked.limits(odds_api).bucket.rate == odds_api.rate_limit.per_second
