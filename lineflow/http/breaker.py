"""The circuit breaker per (proxy, target host), as pure functions over its state.

closed --N consecutive failures--> open --cooldown--> half-open --success--> closed
                                                        \\--failure--> open (longer cooldown)

The cooldown grows with every open that follows another without a success in between:
cooldown_s * cooldown_factor ** (opens - 1), at most cooldown_max_s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from lineflow.config import BreakerConfig

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class Breaker:
    failures: int = 0  # consecutive
    opens: int = 0  # consecutive opens without a success
    opened_at: datetime | None = None
    retry_at: datetime | None = None

    def state(self, now: datetime) -> State:
        if self.retry_at is None:
            return "closed"
        return "open" if now < self.retry_at else "half_open"

    def usable(self, now: datetime) -> bool:
        """Closed, or half-open (one more try is allowed)."""
        return self.state(now) != "open"


def cooldown(config: BreakerConfig, opens: int) -> timedelta:
    seconds = config.cooldown_s * config.cooldown_factor ** max(opens - 1, 0)
    return timedelta(seconds=min(seconds, config.cooldown_max_s))


def on_success(_breaker: Breaker) -> Breaker:
    return Breaker()


def on_failure(breaker: Breaker, now: datetime, config: BreakerConfig) -> Breaker:
    failures = breaker.failures + 1
    state = breaker.state(now)
    if state == "open":  # a request already in flight when it opened: the cooldown stands
        return replace(breaker, failures=failures)
    half_open = state == "half_open"
    if half_open or failures >= config.failures:
        opens = breaker.opens + 1
        return Breaker(failures, opens, now, now + cooldown(config, opens))
    return replace(breaker, failures=failures)
