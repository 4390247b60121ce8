"""The breaker's state after each event, field by field, at the exact edges of its cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lineflow.config import BreakerConfig
from lineflow.http.breaker import Breaker, cooldown, on_failure, on_success

T0 = datetime(2026, 1, 23, 14, 0, tzinfo=UTC)
CONFIG = BreakerConfig(failures=2, cooldown_s=60, cooldown_factor=3, cooldown_max_s=1000)


def test_a_new_breaker_is_closed_and_usable() -> None:
    fresh = Breaker()
    assert (fresh.failures, fresh.opens, fresh.opened_at, fresh.retry_at) == (0, 0, None, None)
    assert fresh.state(T0) == "closed" and fresh.usable(T0)


def test_failures_count_up_then_open_with_when_and_until() -> None:
    once = on_failure(Breaker(), T0, CONFIG)
    assert once == Breaker(failures=1)
    opened = on_failure(once, T0, CONFIG)
    assert opened == Breaker(2, 1, T0, T0 + timedelta(seconds=60))


def test_open_until_exactly_retry_at_then_half_open() -> None:
    opened = Breaker(2, 1, T0, T0 + timedelta(seconds=60))
    just_before = T0 + timedelta(seconds=59, microseconds=999_999)
    assert opened.state(just_before) == "open" and not opened.usable(just_before)
    at = T0 + timedelta(seconds=60)
    assert opened.state(at) == "half_open" and opened.usable(at)


def test_failures_while_open_are_counted_and_keep_the_cooldown() -> None:
    opened = Breaker(2, 1, T0, T0 + timedelta(seconds=60))
    late = on_failure(opened, T0 + timedelta(seconds=10), CONFIG)
    assert late == Breaker(3, 1, T0, T0 + timedelta(seconds=60))


def test_a_failure_when_half_open_reopens_from_now_with_a_longer_cooldown() -> None:
    opened = Breaker(2, 1, T0, T0 + timedelta(seconds=60))
    now = T0 + timedelta(seconds=75)
    reopened = on_failure(opened, now, CONFIG)
    # second open in a row: 60 x 3^(2-1) = 180 s from now; opened_at moves to now
    assert reopened == Breaker(3, 2, now, now + timedelta(seconds=180))


def test_a_success_forgets_everything() -> None:
    reopened = Breaker(5, 3, T0, T0 + timedelta(seconds=540))
    assert on_success(reopened) == Breaker()
    # ... so the next open is a first open again: the base cooldown
    again = on_failure(on_failure(on_success(reopened), T0, CONFIG), T0, CONFIG)
    assert again == Breaker(2, 1, T0, T0 + timedelta(seconds=60))


def test_cooldown_grows_by_the_factor_up_to_the_cap() -> None:
    got = [cooldown(CONFIG, opens).total_seconds() for opens in (0, 1, 2, 3, 4)]
    # 60 x 3^max(opens-1, 0): 60, 60, 180, 540, 1620 -> capped at 1000
    assert got == [60, 60, 180, 540, 1000]
