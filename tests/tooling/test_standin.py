"""The stand-in provider speaks both wire formats, over a real loopback server."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.support import child_env
from tests.support.standin import (
    INCIDENT_DATE,
    StandIn,
    bettingpros,
    datagen,
    incident_bad_players,
    oddsapi,
    outage_empty_page,
    outage_error_page,
    slate,
    snapshot_at,
)

ODDS_KEY = "standin-odds-key"
BP_KEY = "standin-bp-key"
SPORT = "/v4/sports/basketball_nba"
HIST = "/v4/historical/sports/basketball_nba"
PROPS = "player_points,player_rebounds,player_assists,player_threes"
INCIDENT_SNAPSHOTS = (
    datetime(2026, 1, 23, 14, 8, tzinfo=UTC),
    datetime(2026, 1, 23, 14, 33, tzinfo=UTC),
)
AFTER_BACKFILL = datetime(2026, 1, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(now=INCIDENT_SNAPSHOTS[0]) as server:
        yield server


@pytest.fixture
def client(standin: StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.url, timeout=10) as http:
        yield http


def odds(client: httpx.Client, path: str, **params: str) -> httpx.Response:
    return client.get(path, params={"apiKey": ODDS_KEY, **params})


def bp(client: httpx.Client, path: str, **params: str) -> httpx.Response:
    return client.get(path, params=params, headers={"x-api-key": BP_KEY})


def event_ids(client: httpx.Client, day: date) -> list[str]:
    start = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    window = {"commenceTimeFrom": _iso(start), "commenceTimeTo": _iso(start + timedelta(hours=4))}
    return [e["id"] for e in odds(client, f"{SPORT}/events", **window).json()]


# -- determinism -------------------------------------------------------------------------------


def test_same_date_and_time_give_the_same_bytes(standin: StandIn, client: httpx.Client) -> None:
    first_id = event_ids(client, INCIDENT_DATE)[0]
    path = f"{SPORT}/events/{first_id}/odds"
    params = {"regions": "us", "markets": PROPS, "oddsFormat": "american"}
    one, two = odds(client, path, **params), odds(client, path, **params)
    assert one.content == two.content
    assert one.headers["date"] == two.headers["date"] == "Fri, 23 Jan 2026 14:08:00 GMT"

    jan20 = ":".join(str(g.bp_event_id) for g in slate(date(2026, 1, 20)).games[:3])
    offers = {"sport": "NBA", "market_id": "156", "event_id": jan20, "page": "2"}
    standin.set_now(datetime(2026, 1, 20, 15, tzinfo=UTC))
    one, two = bp(client, "/v3/offers", **offers), bp(client, "/v3/offers", **offers)
    assert one.status_code == 200 and one.content == two.content
    # Rendering needs no server, and a fresh process gives the same bytes as this one.
    game = slate(INCIDENT_DATE).games[0]
    body = json.dumps(oddsapi.event_odds_json(game, INCIDENT_SNAPSHOTS[0]), sort_keys=True)
    script = (
        "import json; from datetime import datetime, UTC; from tests.support.standin import "
        "oddsapi, slate; from datetime import date; g = slate(date(2026, 1, 23)).games[0]; "
        "print(json.dumps(oddsapi.event_odds_json(g, datetime(2026, 1, 23, 14, 8, tzinfo=UTC)),"
        " sort_keys=True))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=child_env()
    )
    assert fresh.stdout.strip() == body


def test_lines_move_between_snapshots_and_rosters_stay() -> None:
    game = slate(INCIDENT_DATE).games[0]
    early, late = (
        oddsapi.event_odds_json(game, t, odds_format="american") for t in INCIDENT_SNAPSHOTS
    )
    assert early["bookmakers"] != late["bookmakers"]

    names = [p.name for team in datagen.rosters() for p in team]
    assert len(names) == len(set(names)) == 30 * 12
    # A player's opening line drifts a little from night to night, never far.
    star = datagen.roster("GSW")[0]
    january = [slate(date(2026, 1, d)) for d in range(1, 32)]
    lines = {
        datagen.opening_line(g, star, "points")
        for day in january
        for g in day.games
        if star in g.prop_players
    }
    assert len(lines) >= 2 and max(lines) - min(lines) <= 4
    assert all(7 <= len(day.games) <= 9 for day in january)


# -- The Odds API ------------------------------------------------------------------------------


def test_odds_api_auth_errors_carry_no_quota_headers(client: httpx.Client) -> None:
    missing = client.get(f"{SPORT}/events")
    wrong = client.get(f"{SPORT}/events", params={"apiKey": "0" * 32})
    assert (missing.status_code, missing.json()["error_code"]) == (401, "MISSING_KEY")
    assert (wrong.status_code, wrong.json()["error_code"]) == (401, "INVALID_KEY")
    for response in (missing, wrong):
        assert set(response.json()) == {"message", "error_code", "details_url"}
        assert not [h for h in response.headers if h.startswith("x-requests-")]
    # The sample code's spelling works too.
    assert client.get(f"{SPORT}/events", params={"api_key": ODDS_KEY}).status_code == 200


def test_quota_headers_and_costs(standin: StandIn, client: httpx.Client) -> None:
    standin.set_quota(1000)
    sports = odds(client, "/v4/sports/")
    assert sports.headers["x-requests-last"] == "0"
    assert sports.headers["x-requests-remaining"] == "1000"
    ids = event_ids(client, INCIDENT_DATE)
    assert odds(client, f"{SPORT}/events").headers["x-requests-last"] == "0"

    live = odds(client, f"{SPORT}/events/{ids[0]}/odds", regions="us", markets=PROPS)
    assert live.headers["x-requests-last"] == "4"
    assert (live.headers["x-requests-used"], live.headers["x-requests-remaining"]) == ("4", "996")
    two_regions = odds(
        client, f"{SPORT}/events/{ids[0]}/odds", regions="us,uk", markets="player_points"
    )
    assert two_regions.headers["x-requests-last"] == "2"

    standin.set_now(AFTER_BACKFILL)
    at = "2026-01-19T18:00:00Z"
    history = odds(client, f"{HIST}/events", date=at)
    assert history.headers["x-requests-last"] == "1"
    first = history.json()["data"][0]["id"]
    hist_odds = odds(
        client,
        f"{HIST}/events/{first}/odds",
        date=at,
        regions="us",
        markets="player_points,player_rebounds",
    )
    assert hist_odds.headers["x-requests-last"] == "20"
    empty_history = odds(client, f"{HIST}/events", date=at, commenceTimeFrom="2030-01-01T00:00:00Z")
    assert empty_history.json()["data"] == []
    assert empty_history.headers["x-requests-last"] == "0"

    standin.set_quota(5)
    broke = odds(client, f"{HIST}/events/{first}/odds", date=at, regions="us", markets=PROPS)
    assert (broke.status_code, broke.json()["error_code"]) == (401, "OUT_OF_USAGE_CREDITS")
    assert broke.headers["x-requests-remaining"] == "0"
    assert odds(client, "/v4/sports").status_code == 200  # free calls still work


def test_odds_api_validation_errors(client: httpx.Client) -> None:
    event = event_ids(client, INCIDENT_DATE)[0]
    path = f"{SPORT}/events/{event}/odds"
    no_region = odds(client, path, markets="player_points")
    assert (no_region.status_code, no_region.json()["error_code"]) == (422, "MISSING_REGION")
    bad = odds(client, path, regions="us", markets="player_points,player_freethrows_made")
    assert (bad.status_code, bad.json()["error_code"]) == (422, "INVALID_MARKET")
    assert bad.json()["message"] == "Invalid markets: player_freethrows_made"
    assert bad.headers["x-requests-last"] == "0"
    bulk = odds(client, f"{SPORT}/odds", regions="us", markets="player_points")
    assert (bulk.status_code, bulk.json()["error_code"]) == (422, "INVALID_MARKET")
    gone = odds(client, f"{SPORT}/events/{'0' * 32}/odds", regions="us", markets="player_points")
    assert (gone.status_code, gone.json()["error_code"]) == (404, "EVENT_NOT_FOUND")
    assert gone.headers["x-requests-last"] == "0"
    # With bookmakers instead of regions, no region is needed.
    only_dk = odds(client, path, bookmakers="draftkings", markets="player_points")
    assert [b["key"] for b in only_dk.json()["bookmakers"]] == ["draftkings"]


def test_odds_formats_and_live_last_update(client: httpx.Client) -> None:
    event = event_ids(client, INCIDENT_DATE)[0]
    path = f"{SPORT}/events/{event}/odds"
    decimal = odds(client, path, regions="us", markets="player_points").json()  # the default
    american = odds(
        client, path, regions="us", markets="player_points", oddsFormat="american"
    ).json()
    decimal_prices = [o["price"] for o in _outcomes(decimal)]
    american_prices = [o["price"] for o in _outcomes(american)]
    assert all(isinstance(p, float) and 1 < p < 10 for p in decimal_prices)
    assert all(isinstance(p, int) and abs(p) >= 100 for p in american_prices)
    assert all(isinstance(o["point"], float) for o in _outcomes(american))
    assert all("last_update" not in b for b in american["bookmakers"])  # market level only
    unix = odds(client, path, regions="us", markets="player_points", dateFormat="unix").json()
    assert isinstance(unix["commence_time"], int)


def test_historical_wrapper_and_snapshot_rule(standin: StandIn, client: httpx.Client) -> None:
    assert (
        snapshot_at(datetime(2026, 1, 19, 18, 0, 39, tzinfo=UTC))
        .isoformat()
        .startswith("2026-01-19T18:00:39")
    )
    standin.set_now(AFTER_BACKFILL)
    at = {"date": "2026-01-19T18:00:00Z"}
    events = odds(client, f"{HIST}/events", **at).json()
    assert events["timestamp"] == "2026-01-19T17:55:39Z"
    assert events["previous_timestamp"] == "2026-01-19T17:50:39Z"
    assert events["next_timestamp"] == "2026-01-19T18:00:39Z"
    jan19 = [e for e in events["data"] if e["commence_time"] < "2026-01-20T04:00:00Z"]
    assert len(jan19) == 9
    assert all(e["commence_time"] > events["timestamp"] for e in events["data"])

    body = odds(
        client, f"{HIST}/events/{jan19[0]['id']}/odds", regions="us", markets=PROPS, **at
    ).json()
    assert set(body) == {"timestamp", "previous_timestamp", "next_timestamp", "data"}
    assert isinstance(body["data"], dict) and body["data"]["id"] == jan19[0]["id"]
    assert all("last_update" in b for b in body["data"]["bookmakers"])  # historical: both levels
    # At tip-off an event leaves the archive.
    tip = datetime.fromisoformat(jan19[0]["commence_time"])
    started = odds(
        client,
        f"{HIST}/events/{jan19[0]['id']}/odds",
        regions="us",
        markets="player_points",
        date=_iso(tip + timedelta(minutes=10)),
    )
    assert (started.status_code, started.json()["error_code"]) == (404, "EVENT_NOT_FOUND")


@pytest.mark.parametrize("day, games", [(19, 9), (20, 7), (21, 7), (22, 8)])
def test_backfill_week(standin: StandIn, client: httpx.Client, day: int, games: int) -> None:
    standin.set_now(datetime(2026, 1, day, 18, 0, tzinfo=UTC))
    ids = event_ids(client, date(2026, 1, day))
    assert len(ids) == games
    live = odds(client, f"{SPORT}/events/{ids[0]}/odds", regions="us", markets=PROPS)
    assert live.json()["bookmakers"] == [] and live.headers["x-requests-last"] == "0"

    standin.set_now(AFTER_BACKFILL)
    empty = 0
    for event in ids:
        data = odds(
            client,
            f"{HIST}/events/{event}/odds",
            regions="us",
            markets=PROPS,
            date=f"2026-01-{day}T18:00:00Z",
        ).json()["data"]
        players = {o["description"] for o in _outcomes(data, "player_points")}
        if not data["bookmakers"]:
            empty += 1
        else:
            assert 10 <= len(players) <= 14
    assert empty == (1 if day == 22 else 0)

    # BettingPros was fine that week: 300-400 points rows from 50-70 players.
    rows, players = _bp_points_rows(client, date(2026, 1, day))
    assert 300 <= len(rows) <= 400
    assert 50 <= len(players) <= 70


# -- the incident: 2026-01-23 -------------------------------------------------------------------


def test_incident_line_quality_from_the_wire(standin: StandIn, client: httpx.Client) -> None:
    truth = incident_bad_players()
    assert sorted(truth.values()) == sorted(
        ["stale", "single_book", "out_of_range", "inconsistent_prices"]
    )
    for moment in INCIDENT_SNAPSHOTS:
        standin.set_now(moment)
        ids = event_ids(client, INCIDENT_DATE)
        assert len(ids) == 8
        bodies = []
        for event in ids:
            response = odds(
                client,
                f"{SPORT}/events/{event}/odds",
                regions="us",
                markets=PROPS,
                oddsFormat="american",
            )
            snapshot = parsedate_to_datetime(response.headers["date"])
            assert snapshot == moment
            bodies.append(response.json())
        per_game = sorted(
            len({o["description"] for o in _outcomes(b, "player_points")}) for b in bodies
        )
        assert per_game == [10] * 7 + [11]
        failures = _line_quality(bodies, moment)
        assert len(failures) == 81
        assert {name: reasons for name, reasons in failures.items() if reasons} == {
            name: {reason} for name, reason in truth.items()
        }
        _assert_odds_api_traps(bodies)

    early, late = (_points_lines(client, standin, t) for t in INCIDENT_SNAPSHOTS)
    assert early.keys() == late.keys() and early != late


def test_incident_bettingpros_is_blocked(standin: StandIn, client: httpx.Client) -> None:
    assert bp(client, "/v3/events", sport="NBA", date="2026-01-23").status_code == 403
    standin.set_now(AFTER_BACKFILL)
    refused = bp(client, "/v3/events", sport="NBA", date="2026-01-23")
    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    assert bp(client, "/v3/events", sport="NBA", date="2026-01-22").status_code == 200


# -- BettingPros -------------------------------------------------------------------------------


def test_bettingpros_auth(standin: StandIn, client: httpx.Client) -> None:
    standin.set_now(datetime(2026, 1, 20, 15, tzinfo=UTC))
    for headers in ({}, {"x-api-key": "wrong"}):
        response = client.get(
            "/v3/events", params={"sport": "NBA", "date": "2026-01-20"}, headers=headers
        )
        assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


def test_bettingpros_events_and_offers_pages(standin: StandIn, client: httpx.Client) -> None:
    standin.set_now(datetime(2026, 1, 20, 15, tzinfo=UTC))
    doc = bp(client, "/v3/events", sport="NBA", date="2026-01-20").json()
    assert doc["_parameters"] == {"sport": "NBA", "date": "2026-01-20"}
    assert len(doc["events"]) == 7
    event = doc["events"][0]
    assert isinstance(event["id"], int) and len(event["scheduled"]) == 19
    assert event["scheduled"][10] == " " and {"home", "visitor"} <= set(event)
    assert {p["team"]["abbreviation"] for p in event["participants"]} == {
        event["home"],
        event["visitor"],
    }

    ids = ":".join(str(e["id"]) for e in doc["events"])
    query = {
        "sport": "NBA",
        "market_id": "156",
        "event_id": ids,
        "location": "ALL",
        "limit": "50",
        "page": "1",
    }
    first = bp(client, "/v3/offers", **query).json()
    paging = first["_pagination"]
    assert paging["limit"] == 10 and len(first["offers"]) == 10  # the cap
    assert paging["total_pages"] >= 2
    assert BP_KEY not in paging["self"] and "event_id=" + ids in paging["self"]
    assert first["markets"][0]["id"] == 156
    last = bp(client, "/v3/offers", **{**query, "page": str(paging["total_pages"])}).json()
    assert 1 <= len(last["offers"]) <= 10
    past = bp(client, "/v3/offers", **{**query, "page": str(paging["total_pages"] + 1)}).json()
    assert past["offers"] == []

    offers = [
        o
        for page in range(1, paging["total_pages"] + 1)
        for o in bp(client, "/v3/offers", **{**query, "page": str(page)}).json()["offers"]
    ]
    assert len(offers) == paging["total_items"]
    players = [(o["event_id"], o["player_id"]) for o in offers]
    assert len(players) == len(set(players))  # one offer per player per market
    _assert_bettingpros_traps(offers)


def test_bettingpros_outage_bodies() -> None:
    error, empty = outage_error_page(total_items=87), outage_empty_page(total_items=87)
    assert error["offers"] == ["error"] and error["_pagination"]["total_items"] == 87
    assert empty["offers"] == [] and empty["_pagination"]["total_pages"] == 9


def test_block_and_block_via(standin: StandIn, client: httpx.Client) -> None:
    standin.set_now(datetime(2026, 1, 20, 15, tzinfo=UTC))
    path, params = "/v3/events", {"sport": "NBA", "date": "2026-01-20"}
    standin.block("bettingpros")
    assert bp(client, path, **params).status_code == 403
    standin.block("bettingpros", False)
    assert bp(client, path, **params).status_code == 200

    standin.block_via("decodo")
    proxied = client.get(
        path, params=params, headers={"x-api-key": BP_KEY, "Via": "1.1 gate.decodo.com"}
    )
    assert (proxied.status_code, proxied.json()) == (403, {"message": "Forbidden"})
    other = client.get(path, params=params, headers={"x-api-key": BP_KEY, "Via": "1.1 proxyfuel"})
    assert other.status_code == 200
    # A proxy may name itself in RFC 7239's Forwarded header instead (proxy.py's plugin does).
    named = client.get(path, params=params, headers={"x-api-key": BP_KEY, "Forwarded": "by=decodo"})
    assert named.status_code == 403
    assert (
        odds(
            client,
            "/v4/sports",
        ).status_code
        == 200
    )  # the Odds API is unaffected


# -- faults, transport and control API ----------------------------------------------------------


def test_429_with_retry_after_then_success(standin: StandIn, client: httpx.Client) -> None:
    standin.add_fault(r"/v4/sports/basketball_nba/events$", status=429, retry_after="2")
    limited = odds(client, f"{SPORT}/events")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["error_code"] == "EXCEEDED_FREQ_LIMIT"
    assert odds(client, f"{SPORT}/events").status_code == 200


def test_fault_kinds(standin: StandIn, client: httpx.Client) -> None:
    standin.add_fault("/v3/offers", status=200, body='{"offers":["error"]}', times=2)
    standin.add_fault("/v4/sports/$", delay_ms=150)
    for _ in range(2):
        assert bp(client, "/v3/offers").json() == {"offers": ["error"]}
    slow = odds(client, "/v4/sports/")
    assert slow.status_code == 200 and slow.elapsed >= timedelta(milliseconds=150)
    for encoding in ("identity", "gzip"):
        standin.add_fault("/v4/sports/basketball_nba/events", truncate=True)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(
                f"{SPORT}/events",
                params={"apiKey": ODDS_KEY},
                headers={"Accept-Encoding": encoding},
            )
    standin.clear_faults()
    assert odds(client, f"{SPORT}/events").status_code == 200


def test_gzip_when_asked(client: httpx.Client, standin: StandIn) -> None:
    with httpx.stream(
        "GET",
        f"{standin.url}/v4/sports/",
        params={"apiKey": ODDS_KEY},
        headers={"Accept-Encoding": "gzip"},
    ) as r:
        raw = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["content-type"] == "application/json"
    assert isinstance(json.loads(gzip.decompress(raw)), list)
    plain = client.get(
        "/v4/sports/", params={"apiKey": ODDS_KEY}, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and plain.json()


def test_control_api_over_http(standin: StandIn, client: httpx.Client) -> None:
    control = "/__standin__/control"
    state = client.post(
        control, json={"now": "2026-01-20T15:00:00Z", "quota": 7, "block": {"bettingpros": True}}
    ).json()
    assert state["quota"]["remaining"] == 7 and state["blocked"] == ["bettingpros"]
    assert standin.now() == datetime(2026, 1, 20, 15, tzinfo=UTC)
    assert bp(client, "/v3/events", sport="NBA").status_code == 403
    client.post(
        control,
        json={
            "block": {"bettingpros": False},
            "block_via": "decodo",
            "fault": {"path": "/v3/", "status": 503, "times": -1},
        },
    )
    assert bp(client, "/v3/events", sport="NBA").status_code == 503
    assert bp(client, "/v3/events", sport="NBA").status_code == 503  # forever
    client.post(control, json={"clear_faults": True})
    assert bp(client, "/v3/events", sport="NBA").status_code == 200
    assert client.post(control, json={"bogus": 1}).status_code == 400

    log = client.get("/__standin__/log").json()
    assert log[-1]["path"] == "/v3/events" and log[-1]["headers"]["x-api-key"] == "***"
    odds(client, "/v4/sports")
    method, path, query, _, raw_query = standin.request_log[-1]
    assert (method, path, query) == ("GET", "/v4/sports", {"apiKey": "***"})
    assert raw_query == "apiKey=***"  # the key masked in the query as sent too


def test_runs_as_its_own_process(tmp_path) -> None:
    # Started from a directory outside the repository, as a bench or a developer might.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.standin",
            "--port",
            "0",
            "--now",
            "2026-01-23T14:08:00Z",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=child_env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        response = httpx.get(f"{line.split()[-1]}/v4/sports/", params={"apiKey": ODDS_KEY})
        assert response.headers["date"] == "Fri, 23 Jan 2026 14:08:00 GMT"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# -- helpers: what a consumer computes from the wire --------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _outcomes(body: dict[str, Any], market: str | None = None) -> list[dict[str, Any]]:
    return [
        o
        for b in body["bookmakers"]
        for m in b["markets"]
        if market is None or m["key"] == market
        for o in m["outcomes"]
    ]


def _implied(american: int) -> float:
    return 100 / (american + 100) if american > 0 else -american / (-american + 100)


def _line_quality(bodies: list[dict[str, Any]], snapshot: datetime) -> dict[str, set[str]]:
    """Per player with a points line: the line-quality checks he fails."""
    books: dict[str, dict[str, tuple[datetime, dict[float, dict[str, int]]]]] = defaultdict(dict)
    for body in bodies:
        for book in body["bookmakers"]:
            for market in book["markets"]:
                if market["key"] != "player_points":
                    continue
                updated = datetime.fromisoformat(market["last_update"])
                for o in market["outcomes"]:
                    _, pairs = books[o["description"]].setdefault(book["key"], (updated, {}))
                    pairs.setdefault(o["point"], {})[o["name"]] = o["price"]
    failures = {}
    for player, offered in books.items():
        reasons = set()
        if len(offered) < 2:
            reasons.add("single_book")
        if snapshot - max(updated for updated, _ in offered.values()) > timedelta(hours=4):
            reasons.add("stale")
        for _, pairs in offered.values():
            # The main line: the pair whose prices are closest to even.
            point, pair = min(
                pairs.items(),
                key=lambda kv: abs(_implied(kv[1]["Over"]) - _implied(kv[1]["Under"])),
            )
            if not 5.5 <= point <= 50.5:
                reasons.add("out_of_range")
            if not 1.0 <= _implied(pair["Over"]) + _implied(pair["Under"]) <= 1.25:
                reasons.add("inconsistent_prices")
        failures[player] = reasons
    return failures


def _assert_odds_api_traps(bodies: list[dict[str, Any]]) -> None:
    markets = {
        (b["key"], m["key"]) for body in bodies for b in body["bookmakers"] for m in b["markets"]
    }
    assert ("bovada", "player_points") in markets and ("bovada", "player_threes") not in markets
    assert all(len(body["bookmakers"]) >= 4 for body in bodies)
    ladders = [
        o
        for body in bodies
        for b in body["bookmakers"]
        if b["key"] == "betrivers"
        for m in b["markets"]
        if m["key"] == "player_points"
        for o in m["outcomes"]
    ]
    points_per_player: dict[str, set[float]] = defaultdict(set)
    for o in ladders:
        points_per_player[o["description"]].add(o["point"])
    assert max(len(points) for points in points_per_player.values()) >= 3
    betonline = [
        m["outcomes"]
        for body in bodies
        for b in body["bookmakers"]
        if b["key"] == "betonlineag"
        for m in b["markets"]
    ]
    assert betonline and all(outcomes[0]["name"] == "Under" for outcomes in betonline)
    names = {o["description"] for body in bodies for o in _outcomes(body)}
    assert any("'" in n for n in names)
    assert any(n.endswith((" Jr.", " II", " III", " Sr.")) for n in names)
    assert all(o["point"] % 1 == 0.5 for body in bodies for o in _outcomes(body))


def _points_lines(client: httpx.Client, standin: StandIn, moment: datetime) -> dict[Any, Any]:
    standin.set_now(moment)
    lines = {}
    for event in event_ids(client, INCIDENT_DATE):
        body = odds(
            client,
            f"{SPORT}/events/{event}/odds",
            regions="us",
            markets="player_points",
            bookmakers="draftkings,fanduel",
            oddsFormat="american",
        ).json()
        for book in body["bookmakers"]:
            for o in book["markets"][0]["outcomes"]:
                lines[(book["key"], o["description"], o["name"])] = (o["point"], o["price"])
    return lines


def _bp_points_rows(client: httpx.Client, day: date) -> tuple[set[Any], set[str]]:
    """Canonical rows: one per (real book, player, side, line) over live lines."""
    events = bp(client, "/v3/events", sport="NBA", date=day.isoformat()).json()["events"]
    ids = ":".join(str(e["id"]) for e in events)
    rows, players, page, pages = set(), set(), 1, 1
    while page <= pages:
        doc = bp(
            client,
            "/v3/offers",
            sport="NBA",
            market_id="156",
            event_id=ids,
            location="ALL",
            limit="10",
            page=str(page),
        ).json()
        pages = doc["_pagination"]["total_pages"]
        for offer in doc["offers"]:
            name = offer["participants"][0]["name"]
            players.add(name)
            for selection in offer["selections"]:
                for book in selection["books"]:
                    for line in book["lines"]:
                        if book["id"] != 0 and line["active"] and not line["is_off"]:
                            rows.add((book["id"], name, selection["selection"], line["line"]))
        page += 1
    return rows, players


def _assert_bettingpros_traps(offers: list[dict[str, Any]]) -> None:
    lines = [
        (book, line)
        for o in offers
        for s in o["selections"]
        for book in s["books"]
        for line in book["lines"]
    ]
    assert any(line["is_off"] for _, line in lines)
    assert any(not line["active"] for _, line in lines)
    assert any(
        len(book["lines"]) == 2 and [x["main"] for x in book["lines"]] == [True, False]
        for book, _ in lines
    )
    assert all(line["id"] is None for book, line in lines if book["id"] == 0)
    assert all(
        isinstance(line["cost"], int) and isinstance(line["line"], float) for _, line in lines
    )
    assert {book["id"] for book, _ in lines} >= {0, 10, 12, 13, 18, 19}
    missing = [
        o
        for o in offers
        if {b["id"] for b in o["selections"][0]["books"]}
        != {b["id"] for b in o["selections"][1]["books"]}
    ]
    assert missing
    offer = offers[0]
    assert offer["selections"][0]["selection"] == "over"
    assert isinstance(offer["participants"][0]["id"], str) and isinstance(offer["player_id"], int)
    assert set(offer["selections"][0]["opening_line"]) == {"line", "cost", "book_id", "created"}
    assert bettingpros.MAX_LIMIT == 10
