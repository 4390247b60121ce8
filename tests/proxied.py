"""A proxied world on loopback for tests: the stand-in provider and two real forward proxies.

`decodo` and `proxyfuel` are proxy.py processes requiring basic auth with a password full of
characters that must be URL-encoded. `overrides()` points lineflow at all of it, live.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.forward_proxy import ForwardProxy
from tests.support.standin import StandIn

ODDS_KEY = "odds-key-5f1e2d3c4b5a69788796"
BP_KEY = "bp-key-0a9b8c7d6e5f4a3b2c1d"
PROXY_USER = "lf-user"
PROXY_PASSWORD = "p+ss@w:rd/%2B&x=y#z"
#: A clean day of the incident week: the stand-in answers BettingPros unless told otherwise.
DAY = "2026-01-20"
NOW = datetime(2026, 1, 20, 16, 0, tzinfo=UTC)

ENV = {
    "ODDS_API_KEY": ODDS_KEY,
    "BETTINGPROS_API_KEY": BP_KEY,
    "DECODO_USERNAME": PROXY_USER,
    "DECODO_PASSWORD": PROXY_PASSWORD,
    "PROXYFUEL_USERNAME": PROXY_USER,
    "PROXYFUEL_PASSWORD": PROXY_PASSWORD,
}
SOURCES = ("odds_api", "bettingpros", "draftkings")
SECRETS = (ODDS_KEY, BP_KEY, PROXY_PASSWORD, "p%2Bss%40w%3Ard")


@dataclass
class World:
    standin: StandIn
    decodo: ForwardProxy
    proxyfuel: ForwardProxy

    def reset(self) -> None:
        self.standin.block_via(None)
        self.standin.block("bettingpros", False)
        self.standin.block("odds_api", False)
        self.standin.block("draftkings", False)
        self.standin.clear_faults()
        self.standin.clear_log()
        self.standin.set_quota(20000, 0)
        self.standin.set_now(NOW)

    def overrides(self, home: object, now: datetime = NOW) -> list[str]:
        return [
            f"date={now.date() if now != NOW else DAY}",
            f"home={home}",
            "http.mode=live",
            f"now={now.isoformat()}",
            "http.backoff_base_s=0.01",
            "http.backoff_max_s=0.05",
            *(f"sources.{s}.base_url={self.standin.url}" for s in SOURCES),
            *(f"sources.{s}.rate_limit.per_second=0" for s in SOURCES),
            f"proxy.pools.decodo.proxies=[{self.decodo.url}]",
            f"proxy.pools.proxyfuel.proxies=[{self.proxyfuel.url}]",
        ]

    def via(self, name: str) -> list[str]:
        """Paths of the BettingPros requests that came through proxy `name`."""
        return [
            r.path
            for r in self.standin.request_log
            if f"by={name}" in r.headers.get("forwarded", "")
        ]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with (
        StandIn(now=NOW, odds_api_key=ODDS_KEY, bettingpros_key=BP_KEY) as standin,
        ForwardProxy("decodo", PROXY_USER, PROXY_PASSWORD) as decodo,
        ForwardProxy("proxyfuel", PROXY_USER, PROXY_PASSWORD) as proxyfuel,
    ):
        yield World(standin, decodo, proxyfuel)


@pytest.fixture
def clean(world: World) -> World:
    world.reset()
    return world


class FakeClock:
    """Wall and monotonic time that only move when something sleeps."""

    def __init__(self, start: datetime = NOW) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
