"""Requests of the plan are units of work: a request that can never succeed is dead-lettered
and no longer asked, the rest of the plan goes on, and a replay after the fix asks it again."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import query, run_cli
from tests.support.standin import StandIn

NOW = datetime(2026, 1, 23, 14, 8, tzinfo=UTC)
ODDS = r"/v4/sports/basketball_nba/events/[0-9a-f]{32}/odds"


def test_a_bad_request_is_dead_lettered_then_replayed(tmp_path):
    home = tmp_path / "home"
    with StandIn(now=NOW) as standin:
        fault = {
            "status": 422,
            "body": '{"message":"Invalid markets","error_code":"INVALID_MARKET"}',
        }
        standin.add_fault(ODDS, times=1, **fault)
        args = (
            "run",
            "date=2026-01-23",
            f"home={home}",
            "http.mode=live",
            "only=[odds_api]",
            f"now={NOW.isoformat()}",
            f"sources.odds_api.base_url={standin.url}",
            "pipeline.stages=[scrape]",
        )
        env = {"ODDS_API_KEY": "standin-odds-key"}

        first = run_cli(*args, env=env)
        assert first.code == 1, first.stdout
        assert "HTTP 422" in first.stdout and "dead letter 1" in first.stdout
        assert query(home, "SELECT count(*) FROM landed_files WHERE endpoint = 'player_props'") == [
            (7,)
        ], "the other events landed"

        second = run_cli(*args, env=env)
        assert second.code == 0, second.stdout
        assert "partial" in second.stdout and "dead-lettered (lineflow dlq)" in second.stdout
        assert " 0 HTTP requests" in second.stdout, "the dead request is not asked again"

        letters = run_cli("dlq", f"home={home}")
        assert "request:/v4/sports/basketball_nba/events/" in letters.stdout
        assert "INVALID_MARKET" in letters.stdout
        assert run_cli("dlq", "replay", "1", f"home={home}").code == 0

        third = run_cli(*args, env=env)
        assert third.code == 0, third.stdout
        assert "partial" not in third.stdout
    assert query(home, "SELECT count(*) FROM landed_files WHERE endpoint = 'player_props'") == [
        (8,)
    ]
