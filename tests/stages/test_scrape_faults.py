"""scrape: each source ends in its own status. Whatever one source's answers do to its plan
(a body of the wrong shape, one nested past any parser's depth), that source fails with a
one-line reason and the other sources are still scraped, whichever comes first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import query, run_cli
from tests.support.standin import StandIn

NOW = datetime(2026, 1, 20, 16, 0, tzinfo=UTC)
EVENTS = {"odds_api": r"/v4/sports/basketball_nba/events$", "bettingpros": r"/v3/events$"}
SOURCES = (*EVENTS, "draftkings")
ENV = {"ODDS_API_KEY": "standin-odds-key", "BETTINGPROS_API_KEY": "standin-bp-key"}
DEEP = "[" * 100_000 + "]" * 100_000


def scrape(standin: StandIn, home: Path):
    return run_cli(
        "run",
        f"date={NOW.date()}",
        f"home={home}",
        "http.mode=live",
        f"now={NOW.isoformat()}",
        "pipeline.stages=[scrape]",
        "proxy.chains.bettingpros=[direct]",
        "proxy.chains.draftkings=[direct]",
        *(f"sources.{s}.base_url={standin.url}" for s in SOURCES),
        *(f"sources.{s}.rate_limit.per_second=0" for s in SOURCES),
        env=ENV,
    )


@pytest.mark.parametrize(
    ("broken", "body", "reason"),
    [
        ("odds_api", '{"unexpected": true}', "odds_api events: expected an array of events"),
        ("odds_api", DEEP, "odds_api events: JSON nested too deeply to parse"),
        ("bettingpros", DEEP, "bettingpros events: JSON nested too deeply to parse"),
    ],
    ids=["odds_api-wrong-shape", "odds_api-deep", "bettingpros-deep"],
)
def test_one_source_failing_leaves_the_others_scraped(tmp_path, broken, body, reason):
    home = tmp_path / "home"
    other = next(s for s in EVENTS if s != broken)
    with StandIn(now=NOW) as standin:
        standin.add_fault(EVENTS[broken], status=200, body=body)
        result = scrape(standin, home)
    assert result.code == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert f"scrape:{broken} failed: {reason}" in result.stdout
    status = dict(query(home, "SELECT processor, status FROM run_history"))
    assert status == {
        f"scrape:{broken}": "failed",
        f"scrape:{other}": "success",
        "scrape:draftkings": "success",
    }
    landed = query(home, "SELECT count(*) FROM landed_files WHERE source = ?", [other])
    assert landed[0][0] > 1, "the other source's plan landed"
