"""`lineflow run` live through real proxies: failover, blocks, quota, and no secret leaks.

The stand-in provider and two proxy.py processes (decodo, proxyfuel; basic auth with a password
that needs URL-encoding) run on loopback; lineflow runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from tests.conftest import query, run_cli
from tests.proxied import DAY, ENV, NOW, SECRETS, World

D = f"slate_date = DATE '{DAY}'"


def live_run(world: World, home: Path, *extra: str, now=NOW):
    return run_cli("run", *world.overrides(home, now), *extra, env=ENV)


def bettingpros_files(home: Path) -> list[str]:
    rows = query(home, f"SELECT file_id FROM landed_files WHERE source = 'bettingpros' AND {D}")
    return sorted(f for (f,) in rows)


def recorded_bettingpros_files(tmp_path: Path) -> list[str]:
    """What a clean day's BettingPros plan lands: replay of the recorded fixture."""
    home = tmp_path / "replayed"
    assert run_cli("run", f"date={DAY}", f"home={home}", "only=[bettingpros]").code == 0
    return bettingpros_files(home)


def test_one_proxy_blocked_fails_over_with_complete_data_and_opens_its_breaker(
    clean: World, tmp_path
):
    clean.standin.block_via("decodo")
    home = tmp_path / "home"
    result = live_run(clean, home)
    assert result.code == 0, result.stdout + result.stderr
    assert "answered via proxyfuel after decodo (403)" in result.stdout
    files = bettingpros_files(home)
    assert files and files == recorded_bettingpros_files(tmp_path)
    # Three failures open decodo's breaker; with 2 requests in flight (the source's
    # concurrency) one more may already be on its way. After that, nothing goes through it.
    assert 3 <= len(clean.via("decodo")) <= 4
    assert len(clean.via("proxyfuel")) == len(files)
    at = f"now={(NOW + timedelta(minutes=1)).isoformat()}"
    pool, _proxy, _host, state, success, requests, last, _latency = health_row(home, "decodo", at)
    assert (state, success, last) == ("open", "0%", "403")
    assert requests in ("3", "4")  # a 4th may have been in flight as it opened
    assert health_row(home, "proxyfuel", at)[3:5] == ["closed", "100%"]
    reset = run_cli("proxies", "reset", "decodo", f"home={home}")
    assert reset.code == 0 and "closed 1 breaker (decodo)" in reset.stdout
    assert health_row(home, "decodo", at)[3] == "closed"


def health_row(home: Path, pool: str, *extra: str) -> list[str]:
    """The cells of `lineflow proxies`' row for `pool`: pool, proxy, host, state, success, ..."""
    shown = run_cli("proxies", f"home={home}", *extra)
    assert shown.code == 0, shown.stderr
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in shown.stdout.splitlines()]
    return next(r for r in rows if r and r[0] == pool)


def test_both_proxies_blocked_the_direct_path_completes_the_data(clean: World, tmp_path):
    clean.standin.block_via("decodo")
    clean.standin.block_via("proxyfuel")
    home = tmp_path / "home"
    result = live_run(clean, home)
    assert result.code == 0, result.stdout + result.stderr
    assert "answered via direct after decodo (403), proxyfuel (403)" in result.stdout
    assert bettingpros_files(home) == recorded_bettingpros_files(tmp_path)
    status = dict(query(home, f"SELECT processor, status FROM run_history WHERE {D}"))
    assert status["scrape:bettingpros"] == "success"


def test_everything_blocked_the_source_is_blocked_and_the_run_goes_on(clean: World, tmp_path):
    clean.standin.block("bettingpros")
    home = tmp_path / "home"
    result = live_run(clean, home)
    assert result.code == 0, result.stdout + result.stderr
    assert (
        "scrape:bettingpros: blocked via decodo (403), proxyfuel (403), direct (403): HTTP 403"
        in result.stdout
    )
    status = dict(query(home, f"SELECT processor, status FROM run_history WHERE {D}"))
    assert status["scrape:bettingpros"] == "blocked"
    assert status["scrape:odds_api"] == "success"
    odds_files = query(home, "SELECT count(*) FROM landed_files WHERE source = 'odds_api'")
    assert odds_files[0][0] > 0  # the other source still landed its data
    blocks = query(home, "SELECT source, status, resolved_at FROM blocked_resources")
    assert blocks == [("bettingpros", "blocked", None)]
    strict = live_run(clean, tmp_path / "strict", "strict=true")
    assert strict.code == 3, strict.stdout

    # Later, once the cooldown has passed and BettingPros answers again, the block resolves.
    clean.standin.block("bettingpros", False)
    later = live_run(clean, home, now=NOW + timedelta(minutes=45))
    assert later.code == 0, later.stdout + later.stderr
    blocks = query(home, "SELECT status, resolved_at IS NOT NULL FROM blocked_resources")
    assert blocks == [("resolved", True)]


def test_the_quota_floor_stops_before_the_paid_calls(clean: World, tmp_path):
    clean.standin.set_quota(60, 19940)
    home = tmp_path / "home"
    result = live_run(clean, home, "only=[odds_api]")
    assert result.code == 1
    assert "quota floor reached: 60 requests left, floor is 100" in result.stdout
    paths = [r.path for r in clean.standin.request_log]
    assert paths == ["/v4/sports/basketball_nba/events"]  # free; no event-odds call was paid
    assert clean.standin.state()["quota"]["remaining"] == 60


def test_no_secret_reaches_output_logs_cassettes_landing_or_proxy_health(clean: World, tmp_path):
    clean.standin.block_via("decodo")
    home, cassettes = tmp_path / "home", tmp_path / "cassettes"
    result = live_run(clean, home, "http.mode=record", f"http.cassettes={cassettes}")
    assert result.code == 0, result.stdout + result.stderr
    shown = run_cli("proxies", f"home={home}")
    written = [p for p in [*home.rglob("*"), *cassettes.rglob("*")] if p.is_file()]
    assert any(p.name == "state.sqlite" for p in written)
    assert any(p.suffix == ".gz" for p in written)
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr + shown.stdout
        assert [p for p in written if secret.encode() in _readable(p)] == []
    # DuckDB may compress strings on disk, so read the manifest and run history as tables too.
    stored = query(home, "SELECT string_agg(url, ' ') FROM landed_files")
    stored += query(home, "SELECT string_agg(coalesce(error, ''), ' ') FROM run_history")
    rows = sqlite3.connect(home / "state.sqlite").execute("SELECT * FROM proxy_health")
    text = repr(rows.fetchall()) + repr(stored)
    assert "decodo" in text and not any(secret in text for secret in SECRETS)


def _readable(path: Path) -> bytes:
    import gzip

    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_replay_walks_the_recorded_chain_and_names_it(tmp_path):
    result = run_cli("run", "date=2026-01-23", f"home={tmp_path}", "only=[bettingpros]")
    assert "blocked via decodo (403), proxyfuel (403), direct (403)" in result.stdout
    assert result.code == 0


def test_a_chain_naming_an_unknown_pool_is_one_line_and_exit_2(tmp_path):
    result = run_cli("run", f"date={DAY}", f"home={tmp_path}", "proxy.chains.bettingpros=[decod]")
    assert result.code == 2
    assert result.stderr.strip() == (
        "lineflow: error: proxy.chains: bettingpros: unknown pool 'decod' "
        "(known: proxyfuel, decodo, direct)"
    )
    assert not tmp_path.joinpath("lineflow.duckdb").exists()


def test_a_malformed_pool_is_one_line_and_exit_2(tmp_path):
    result = run_cli("run", f"date={DAY}", f"home={tmp_path}", "proxy.pools.decodo.kind=mobile")
    assert result.code == 2
    assert result.stderr.startswith("lineflow: error: proxy.pools.decodo.kind: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_live_run_without_a_pools_credentials_names_the_variable(clean: World, tmp_path):
    env = {k: v for k, v in ENV.items() if k != "DECODO_PASSWORD"}
    result = run_cli("run", *clean.overrides(tmp_path), env={**env, "DECODO_PASSWORD": ""})
    assert result.code == 2
    assert "proxy.pools.decodo: environment variable DECODO_PASSWORD is not set" in result.stderr
    assert clean.standin.request_log == []
