"""The circuit breaker per (proxy, host): closed -> open -> half-open -> closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lineflow.config import BreakerConfig
from lineflow.http.breaker import Breaker, on_failure, on_success

T0 = datetime(2026, 1, 23, 14, 0, tzinfo=UTC)
CONFIG = BreakerConfig(failures=3, cooldown_s=300, cooldown_factor=2, cooldown_max_s=900)


def fail(breaker: Breaker, times: int, at: datetime = T0) -> Breaker:
    for _ in range(times):
        breaker = on_failure(breaker, at, CONFIG)
    return breaker


def test_stays_closed_below_the_threshold_and_opens_at_it():
    assert fail(Breaker(), 2).state(T0) == "closed"
    opened = fail(Breaker(), 3)
    assert opened.state(T0) == "open" and not opened.usable(T0)
    assert opened.retry_at == T0 + timedelta(minutes=5)


def test_half_open_after_the_cooldown_then_a_success_closes_it():
    opened = fail(Breaker(), 3)
    later = T0 + timedelta(minutes=5)
    assert opened.state(later) == "half_open" and opened.usable(later)
    assert on_success(opened).state(later) == "closed"


def test_a_failure_while_half_open_reopens_with_a_longer_cooldown_up_to_the_cap():
    breaker, at = fail(Breaker(), 3), T0
    cooldowns = []
    for _ in range(3):
        at = breaker.retry_at  # half-open now
        breaker = on_failure(breaker, at, CONFIG)
        cooldowns.append(breaker.retry_at - at)
    assert cooldowns == [timedelta(minutes=10), timedelta(minutes=15), timedelta(minutes=15)]


def test_a_success_resets_the_failure_count():
    assert fail(on_success(fail(Breaker(), 2)), 2).state(T0) == "closed"


def test_a_late_failure_while_open_does_not_extend_the_cooldown():
    opened = fail(Breaker(), 3)
    late = on_failure(opened, T0 + timedelta(seconds=1), CONFIG)
    assert (late.retry_at, late.opens) == (opened.retry_at, 1)
