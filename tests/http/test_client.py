"""One source's requests over real sockets: retries, Retry-After, quota, proxy auth.

The stand-in provider and two proxy.py processes run on loopback; time is a fake clock, so
backoff and Retry-After are asserted as the waits requested, not measured.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from lineflow.config import compose
from lineflow.http import Blocked, HttpLayer, QuotaExhausted, SourceClient
from tests.proxied import ENV, FakeClock, World
from tests.support.standin import oddsapi

EVENTS_BP = ("/v3/events", (("sport", "NBA"), ("date", "2026-01-20")))
EVENTS_ODDS = "/v4/sports/basketball_nba/events"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def open_client(
    world: World, home: Path, source: str, clock: FakeClock, *extra: str
) -> tuple[HttpLayer, SourceClient]:
    settings = compose([*world.overrides(home), *extra])
    layer = HttpLayer(settings, clock.now, clock.sleep, clock.monotonic)
    client = layer.client(settings.sources[source], date(2026, 1, 20), "live-20260120T160000Z")
    return layer, client


def test_retry_after_is_waited_then_the_request_succeeds(clean: World, tmp_path, env):
    clean.standin.add_fault("^/v3/events$", times=1, status=429, retry_after="7")
    clock = FakeClock()
    _, client = open_client(clean, tmp_path, "bettingpros", clock)
    with client:
        response = client.get(*EVENTS_BP)
    assert (response.status, response.attempts, response.via) == (200, 2, "decodo")
    assert clock.sleeps == [7.0]


@pytest.mark.parametrize(("header", "waited"), [("86400", 120.0), ("0", None), ("-5", None)])
def test_absurd_or_non_positive_retry_after_is_clamped(clean: World, tmp_path, env, header, waited):
    clean.standin.add_fault("^/v3/events$", times=1, status=429, retry_after=header)
    clock = FakeClock()
    _, client = open_client(clean, tmp_path, "bettingpros", clock)
    with client:
        assert client.get(*EVENTS_BP).status == 200
    (slept,) = clock.sleeps
    if waited is None:  # no usable hint: full-jitter backoff, within its first cap
        assert 0 <= slept <= 0.01
    else:
        assert slept == waited


def test_three_5xx_then_200_succeeds_on_the_fourth_attempt(clean: World, tmp_path, env):
    clean.standin.add_fault("^/v3/events$", times=3, status=503)
    clock = FakeClock()
    _, client = open_client(clean, tmp_path, "bettingpros", clock, "http.max_attempts=4")
    with client:
        response = client.get(*EVENTS_BP)
    assert (response.status, response.attempts) == (200, 4)
    assert len(clean.via("decodo")) == 4
    # Exponential caps with full jitter: each wait within base * 2^n, capped at backoff_max_s.
    assert [s <= cap for s, cap in zip(clock.sleeps, (0.01, 0.02, 0.04), strict=True)] == [True] * 3


def test_other_4xx_are_answers_not_retried(clean: World, tmp_path, env):
    clock = FakeClock()
    _, client = open_client(clean, tmp_path, "odds_api", clock)
    with client:
        response = client.get("/v4/sports/basketball_nba/events/nope/odds", [("regions", "us")])
    assert response.status in (400, 404, 422) and response.attempts == 1
    assert clock.sleeps == []


def test_a_blocked_proxy_fails_over_and_its_breaker_opens_after_three(
    clean: World, home, env, state_target
):
    clean.standin.block_via("decodo")
    clock = FakeClock()
    layer, client = open_client(clean, home, "bettingpros", clock, *state_target.overrides())
    with client:
        routes = [client.get(*EVENTS_BP) for _ in range(5)]
    assert {r.via for r in routes} == {"proxyfuel"}
    assert [r.tried for r in routes[:3]] == [("decodo (403)",)] * 3
    assert routes[3].tried[0].startswith("decodo (breaker open until ")
    assert len(clean.via("decodo")) == 3  # open: not asked again
    with state_target.store().connect() as con:
        rows = con.execute(
            "SELECT pool, failures, CASE WHEN retry_at IS NULL THEN 0 ELSE 1 END "
            "FROM proxy_health ORDER BY pool"
        ).fetchall()
    assert [tuple(r) for r in rows] == [("decodo", 3, 1), ("proxyfuel", 0, 0)]


def test_everything_blocked_raises_blocked_naming_every_link(clean: World, tmp_path, env):
    clean.standin.block("bettingpros")
    _, client = open_client(clean, tmp_path, "bettingpros", FakeClock())
    with client, pytest.raises(Blocked) as raised:
        client.get(*EVENTS_BP)
    assert str(raised.value).startswith(
        "blocked via decodo (403), proxyfuel (403), direct (403): HTTP 403 from "
    )


def test_proxy_credentials_with_special_characters_authenticate(clean: World, tmp_path, env):
    _, client = open_client(clean, tmp_path, "bettingpros", FakeClock())
    with client:
        response = client.get(*EVENTS_BP)
    assert (response.status, response.via, response.tried) == (200, "decodo", ())
    assert clean.via("decodo") == ["/v3/events"]


def test_a_wrong_proxy_password_is_a_407_and_the_chain_moves_on(
    clean: World, tmp_path, env, monkeypatch
):
    monkeypatch.setenv("DECODO_PASSWORD", "not-the-password")
    _, client = open_client(clean, tmp_path, "bettingpros", FakeClock())
    with client:
        response = client.get(*EVENTS_BP)
    assert (response.via, response.tried) == ("proxyfuel", ("decodo (407)",))


def test_quota_headers_are_stored_and_the_floor_stops_the_paid_call(
    clean: World, home, env, state_target
):
    clean.standin.set_quota(60, 19940)
    _, client = open_client(
        clean, home, "odds_api", FakeClock(), "sources.odds_api.quota.floor=100",
        *state_target.overrides(),
    )  # fmt: skip
    with client:
        events = client.get(EVENTS_ODDS, [("dateFormat", "iso")])  # free: costs 0 credits
        event_id = events.body.split(b'"id":"')[1].split(b'"')[0].decode()
        with pytest.raises(QuotaExhausted, match=r"quota floor reached: 60 requests left, floor"):
            client.get(f"{EVENTS_ODDS}/{event_id}/odds", [("regions", "us")])
    assert [r.path for r in clean.standin.request_log] == [EVENTS_ODDS]
    with state_target.store().connect() as con:
        stored = con.execute("SELECT * FROM source_quota").fetchall()
    assert [tuple(row[:4]) for row in stored] == [("odds_api", 60, 19940, 0)]


def test_out_of_usage_credits_is_final_and_not_retried(clean: World, tmp_path, env):
    spent = json.dumps(oddsapi.error_json("OUT_OF_USAGE_CREDITS"))
    clean.standin.add_fault("/odds$", times=-1, status=401, body=spent)
    clock = FakeClock()
    _, client = open_client(clean, tmp_path, "odds_api", clock)
    with client, pytest.raises(QuotaExhausted, match="quota exhausted .OUT_OF_USAGE_CREDITS"):
        client.get(f"{EVENTS_ODDS}/e1/odds", [("regions", "us")])
    assert len(clean.standin.request_log) == 1 and clock.sleeps == []
    stored = sqlite3.connect(tmp_path / "state.sqlite").execute(
        "SELECT source, remaining FROM source_quota"
    )
    assert stored.fetchall() == [("odds_api", 0)]
