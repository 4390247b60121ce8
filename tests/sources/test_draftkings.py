"""DraftKings, a source declared in YAML alone (conf/source/draftkings.yaml), against the
stand-in's replica of its JSON: each of the provider's traps, one test each, through a real
`lineflow run` on loopback."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from lineflow import sources
from lineflow.config import compose
from lineflow.core.names import player_key
from lineflow.pipeline.request import RunRequest
from lineflow.pipeline.runner import run_partition
from lineflow.sources.base import FileMeta, ParseContext
from tests.conftest import ROOT, query
from tests.support.standin import StandIn, datagen, draftkings

DAY = date(2026, 1, 23)
NOW = datetime(2026, 1, 23, 14, 8, tzinfo=UTC)
#: Tip-off of the slate's first games is 00:00Z the next day: at 00:40Z some are under way.
DURING = datetime(2026, 1, 24, 0, 40, tzinfo=UTC)
PATH = f"/sites/US-SB{draftkings.PATH_SUFFIX}"
BROWSER = {
    "Origin": "https://sportsbook.draftkings.com",
    "Referer": "https://sportsbook.draftkings.com/",
    "Sec-Fetch-Mode": "cors",
    "User-Agent": "Mozilla/5.0",
}


@pytest.fixture(scope="module")
def standin():
    with StandIn(now=NOW) as server:
        yield server


def run(standin: StandIn, home: Path, now: datetime = NOW, *extra: str):
    standin.set_now(now)
    settings = compose(
        [
            f"date={DAY}",
            f"home={home}",
            "http.mode=live",
            f"now={now.isoformat()}",
            "only=[draftkings]",
            "pipeline.stages=[scrape,process,validate,consolidate]",
            f"sources.draftkings.base_url={standin.url}",
            "sources.draftkings.rate_limit.per_second=0",
            "proxy.chains.draftkings=[direct]",
            *extra,
        ]
    )
    return run_partition(settings, RunRequest.from_settings(settings))


def board(standin: StandIn, subcategory: str, now: datetime = NOW) -> tuple[bytes, dict]:
    standin.set_now(now)
    query_ = {"templateVars": f"{draftkings.LEAGUE},{subcategory}"}
    answer = httpx.get(f"{standin.url}{PATH}", params=query_, headers=BROWSER)
    assert answer.status_code == 200
    return answer.content, answer.json()


def lines(home: Path, where: str = "true") -> list[dict]:
    columns = ("event_id", "market", "player_name", "side", "line", "price_american")
    rows = query(
        home,
        f"SELECT {', '.join(columns)}, home_team, commence_time, is_main_line "
        f"FROM prop_lines WHERE source = 'draftkings' AND {where}",
    )
    return [
        dict(zip((*columns, "home_team", "commence_time", "main"), r, strict=True)) for r in rows
    ]


@pytest.fixture(scope="module")
def landed(standin, tmp_path_factory):
    """One live run of the incident day at 14:08Z: its home."""
    home = tmp_path_factory.mktemp("dk") / "home"
    report = run(standin, home)
    assert report.exit_code == 0, [(r.processor, r.status, r.error) for r in report.results]
    return home


def test_there_is_no_python_module_for_draftkings():
    assert not list((ROOT / "lineflow").rglob("*draftkings*"))
    settings = compose(["home=var"])
    assert settings.sources["draftkings"].module == ""
    assert settings.sources["draftkings"].rest is not None


def test_a_lookup_matched_at_the_file_is_joined_once_per_body():
    settings = compose(
        [
            "home=var",
            "+sources.draftkings.rest.props.lookups.league="
            "{list: doc.leagues, key: id, match: 'doc.events[0].leagueId'}",
            "~sources.draftkings.rest.props.fields.bookmaker.value",
            "+sources.draftkings.rest.props.fields.bookmaker.path=league.name",
        ]
    )
    source = sources.load(settings.sources["draftkings"])
    body = draftkings.body("12488", NOW)
    meta = FileMeta("f1", "draftkings", "props", DAY, NOW)
    ctx = ParseContext(markets=dict(settings.sources["draftkings"].markets))
    rows = source.prop_parsers["props"](body, meta, ctx)
    assert rows.height > 0
    assert set(rows["bookmaker"].to_list()) == {"NBA"}


def test_a_live_run_lands_one_file_per_subcategory_and_stages_their_lines(landed):
    files = query(landed, "SELECT endpoint, count(*) FROM landed_files GROUP BY endpoint")
    assert files == [("props", 4)]
    processed = query(landed, "SELECT status, count(*) FROM processed_files GROUP BY status")
    assert processed == [("ok", 4)]
    markets = {m for (m,) in query(landed, "SELECT DISTINCT market FROM prop_lines")}
    assert markets == {"player_points", "player_rebounds", "player_assists", "player_threes"}


def test_the_odata_filters_travel_with_spaces_as_percent_20(standin, tmp_path):
    """DraftKings reads its `$filter` expressions with spaces encoded as %20, not the `+` of
    form encoding (docs: reference draftkings.md, section 1)."""
    standin.clear_log()
    report = run(standin, tmp_path / "home")
    assert report.exit_code == 0
    sent = [r for r in standin.request_log if r.path.startswith("/sites/")]
    assert len(sent) == 4
    for request in sent:
        assert "eventsQuery=%24filter%3DleagueId%20eq%20%2742648%27%20AND%20" in request.raw_query
        assert "+" not in request.raw_query
        assert request.query["eventsQuery"].startswith("$filter=leagueId eq '42648' AND ")


def test_american_odds_with_a_unicode_minus_raw_or_escaped(standin, landed):
    raw, doc = board(standin, "12488")
    escaped, _ = board(standin, "12492")
    assert "\u2212".encode() in raw and b"\\u2212" not in raw
    assert b"\\u2212" in escaped and "\u2212".encode() not in escaped
    event_of = {m["id"]: m["eventId"] for m in doc["markets"]}
    quoted = {
        (
            event_of[s["marketId"]],
            s["participants"][0]["name"],
            s["outcomeType"].lower(),
            s["points"],
        ): s["displayOdds"]["american"]
        for s in doc["selections"]
    }
    for market in ("player_points", "player_rebounds"):
        rows = lines(landed, f"market = '{market}'")
        negative = [r for r in rows if r["price_american"] < 0]
        assert negative and all(r["price_american"] > -1000 for r in negative)
    for row in lines(landed, "market = 'player_points'"):
        text = quoted[(row["event_id"], row["player_name"], row["side"], row["line"])]
        assert text.replace("\u2212", "-") == f"{row['price_american']:+d}"


def test_seven_digit_timestamps_are_the_games_tip_offs(standin, landed):
    raw, doc = board(standin, "12488")
    assert all(e["startEventDate"].endswith(".0000000Z") for e in doc["events"])
    tips = {g.commence_time for g in datagen.slate(DAY).games}
    assert {r["commence_time"] for r in lines(landed)} == tips


def test_suspended_markets_carry_prices_but_no_lines(standin, landed):
    _, doc = board(standin, "12488")
    suspended = {m["id"] for m in doc["markets"] if m.get("isSuspended")}
    priced = [s for s in doc["selections"] if s["marketId"] in suspended]
    assert priced and all(s["displayOdds"]["american"] for s in priced)
    events = {e["id"] for e in doc["events"] if e["startEventDate"] < "2026-01-24T12"}
    market_event = {m["id"]: m["eventId"] for m in doc["markets"]}
    pulled = {
        (market_event[s["marketId"]], s["participants"][0]["name"])
        for s in priced
        if market_event[s["marketId"]] in events
    }
    assert pulled, "a suspended market on the partition's slate"
    staged = {(r["event_id"], r["player_name"]) for r in lines(landed, "market = 'player_points'")}
    assert not pulled & staged


def test_milestone_markets_are_not_over_under_lines(standin, landed):
    _, doc = board(standin, "12488")
    milestones = [s for s in doc["selections"] if "milestoneValue" in s]
    assert milestones and all(s["outcomeType"] == "Over" for s in milestones)
    fake = {(s["participants"][0]["name"], s["points"]) for s in milestones}
    staged = {(r["player_name"], r["line"]) for r in lines(landed, "market = 'player_points'")}
    assert not fake & staged
    # Every staged line is a pair: an O/U market has both sides, a milestone only an Over.
    sides = query(
        landed,
        "SELECT count(*) FILTER (side = 'over'), count(*) FILTER (side = 'under') "
        "FROM prop_lines WHERE source = 'draftkings'",
    )
    assert sides[0][0] == sides[0][1]


def test_started_and_next_day_games_in_one_answer_are_left_out(standin, tmp_path):
    _, doc = board(standin, "12488", DURING)
    statuses = {e["status"] for e in doc["events"]}
    assert statuses == {"STARTED", "NOT_STARTED"}
    home = tmp_path / "home"
    report = run(standin, home, DURING)
    assert report.exit_code == 0
    games = datagen.slate(DAY).games
    waiting = {draftkings.event_id(g) for g in games if g.commence_time > DURING}
    started = {draftkings.event_id(g) for g in games if g.commence_time <= DURING}
    tomorrow = {draftkings.event_id(g) for g in datagen.slate(date(2026, 1, 24)).games}
    on_board = {e["id"] for e in doc["events"]}
    assert started and started <= on_board and tomorrow & on_board
    assert {r["event_id"] for r in lines(home)} == waiting


def test_a_request_without_browser_headers_gets_akamais_403_and_is_a_block(standin, tmp_path):
    standin.set_now(NOW)
    bare = httpx.get(f"{standin.url}{PATH}", params={"templateVars": "42648,12488"})
    assert bare.status_code == 403
    assert bare.headers["content-type"] == "text/html"
    assert "Access Denied" in bare.text
    home = tmp_path / "home"
    report = run(standin, home, NOW, "~sources.draftkings.headers")
    [scrape] = [r for r in report.results if r.processor == "scrape:draftkings"]
    assert scrape.status == "blocked"
    assert "HTTP 403" in (scrape.error or "")
    assert query(home, "SELECT count(*) FROM landed_files") == [(0,)]


def test_rows_keep_draftkings_player_spelling_with_canonical_key_teams_and_book(landed):
    """DraftKings writes "LA Clippers", "Reginald Bellweather", "Hollis Blackwood (Q)".
    prop_lines keeps its spelling in player_name (lineage) and carries the identity the other
    sources use: the player's key, the teams' full names, the bookmaker key (docs/identity.md)."""
    rows = query(
        landed,
        "SELECT DISTINCT player_name, player_key, home_team, away_team, bookmaker "
        "FROM prop_lines WHERE source = 'draftkings'",
    )
    games = datagen.slate(DAY).games
    # The stand-in's own record of whom each DraftKings spelling names.
    spelled = {draftkings.player_name(p, g): p.name for g in games for p in g.prop_players}
    names = {name for name, *_ in rows}
    assert names <= set(spelled)
    assert any(n.endswith(" (Q)") for n in names)
    assert {"Reginald Bellweather", "Ezekiel Bellweather"} <= names
    assert {name: key for name, key, *_ in rows} == {n: player_key(spelled[n]) for n in names}
    assert ("Reginald Bellweather", "reggie_bellweather") in {(n, k) for n, k, *_ in rows}
    teams = {t for _, _, home, away, _ in rows for t in (home, away)}
    assert teams == {t.name for g in games for t in (g.home, g.away)}
    assert "Los Angeles Lakers" in teams and "LA Lakers" not in teams
    assert {book for *_, book in rows} == {"draftkings"}


def test_alternate_lines_beside_the_main_one_are_not_main(landed):
    mains = query(
        landed,
        "SELECT event_id, market, player_name, count(DISTINCT line) FILTER (is_main_line), "
        "count(DISTINCT line) FROM prop_lines WHERE source = 'draftkings' GROUP BY ALL",
    )
    assert all(main == 1 for *_, main, _ in mains)
    assert any(total == 2 for *_, total in mains), "some players have an alternate line"


def test_a_200_that_is_not_a_board_is_an_outage_of_that_file_only(standin, tmp_path):
    body = json.dumps({"error": {"code": 503, "message": "Service Unavailable"}})
    standin.add_fault(r"/sites/", status=200, body=body, times=1)
    try:
        home = tmp_path / "home"
        report = run(standin, home)
    finally:
        standin.clear_faults()
    assert report.exit_code == 0
    processed = dict(query(home, "SELECT status, count(*) FROM processed_files GROUP BY status"))
    assert processed == {"outage": 1, "ok": 3}
