"""`lineflow run date=2026-01-23` end to end, offline, from the recorded fixtures.

The day the original pipeline loaded 1 of 16 landed files and BettingPros answered 403. Three
sources are configured: the Odds API (16 props files over two passes), BettingPros (blocked) and
DraftKings (4 props files, one per stat, straight from the book).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, INCIDENT, query, run_cli, table_checksum

D = f"slate_date = DATE '{INCIDENT}'"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("incident") / "home"
    result = run_cli("run", f"date={INCIDENT}", f"home={home}")
    return home, result


def test_completes_offline_with_bettingpros_blocked(first_run):
    home, result = first_run
    assert result.code == 0, result.stderr + result.stdout
    assert "scrape:bettingpros" in result.stdout and "blocked" in result.stdout
    # Replay walks the proxy chain as it was recorded and names every link it tried.
    assert "blocked via decodo (403), proxyfuel (403), direct (403)" in result.stdout


def test_all_16_props_files_land_and_reach_prop_lines(first_run):
    home, _ = first_run
    landed = query(
        home,
        f"SELECT count(*), count(DISTINCT file_id) FROM landed_files "
        f"WHERE source = 'odds_api' AND endpoint = 'player_props' AND {D}",
    )
    assert landed == [(16, 16)]
    loaded = query(
        home, f"SELECT count(DISTINCT file_id) FROM prop_lines WHERE source = 'odds_api' AND {D}"
    )
    assert loaded == [(16,)]
    # Quarantine holds back rows, never whole files: each file's other lines still load.
    per_file = query(
        home,
        f"SELECT l.file_id, count(p.file_id) FROM landed_files l "
        f"LEFT JOIN prop_lines p USING (file_id) "
        f"WHERE l.endpoint = 'player_props' AND l.{D} GROUP BY 1",
    )
    assert all(rows > 0 for _, rows in per_file), "every landed file contributes rows"


def test_draftkings_lands_one_file_per_stat_and_each_reaches_prop_lines(first_run):
    home, _ = first_run
    landed = query(
        home,
        f"SELECT endpoint, count(*), count(DISTINCT file_id) FROM landed_files "
        f"WHERE source = 'draftkings' AND {D} GROUP BY 1",
    )
    assert landed == [("props", 4, 4)]
    # Its four calls go out two at a time, the first of the run among them: all are counted.
    sql = f"SELECT requests FROM run_history WHERE processor = 'scrape:draftkings' AND {D}"
    assert query(home, sql) == [(4,)]
    per_market = query(
        home,
        f"SELECT market, count(DISTINCT file_id), count(*) > 0 FROM prop_lines "
        f"WHERE source = 'draftkings' AND {D} GROUP BY 1 ORDER BY 1",
    )
    assert per_market == [
        ("player_assists", 1, True),
        ("player_points", 1, True),
        ("player_rebounds", 1, True),
        ("player_threes", 1, True),
    ]
    books = query(home, "SELECT DISTINCT bookmaker FROM prop_lines WHERE source = 'draftkings'")
    assert books == [("draftkings",)]


def test_run_history_has_every_stage_and_the_scrapers(first_run):
    home, _ = first_run
    rows = dict(query(home, f"SELECT processor, status FROM run_history WHERE {D}"))
    assert rows == {
        "scrape:odds_api": "success",
        "scrape:bettingpros": "blocked",
        "scrape:draftkings": "success",
        "process:odds_api": "success",
        "process:bettingpros": "success",
        "process:draftkings": "success",
        "validate": "success",
        "consolidate": "success",
        "predict": "success",
    }


def points_players(home: Path, table: str) -> dict[str, int]:
    """Players with points lines in `table`, per source."""
    sql = (
        f"SELECT source, count(DISTINCT player_key) FROM {table} "
        "WHERE market = 'player_points' GROUP BY 1"
    )
    return dict(query(home, sql))


def test_prop_lines_schema_and_partition(first_run):
    home, _ = first_run
    ((players, books, sources, dates),) = query(
        home,
        "SELECT count(DISTINCT player_key) FILTER (market = 'player_points'), "
        "count(DISTINCT bookmaker), count(DISTINCT source), count(DISTINCT slate_date) "
        "FROM prop_lines",
    )
    # The Odds API: 81 players have points lines; two of them had every line quarantined (a
    # 4.5 line and plus-money on both sides), so 79 reach prop_lines.
    # DraftKings posts the same 81 less one whose market is suspended (the 11th player of the
    # slate's only 11-player game): 80 staged, the same two quarantined, 78 in prop_lines.
    assert points_players(home, "stg_prop_lines") == {"odds_api": 81, "draftkings": 80}
    assert points_players(home, "prop_lines") == {"odds_api": 79, "draftkings": 78}
    # DraftKings' 78 are all among the Odds API's 79, five of them under its own spelling
    # ("Ezekiel"/"Reginald" Bellweather for Zeke/Reggie, three with a " (Q)" lineup suffix)
    # resolved to the same key (conf/identity/default.yaml): 79 players, not 79 + 5.
    assert players == 79
    respelled = query(
        home,
        "SELECT DISTINCT d.player_name, o.player_name FROM prop_lines d JOIN prop_lines o "
        "USING (player_key) WHERE d.source = 'draftkings' AND o.source = 'odds_api' "
        "AND d.market = 'player_points' AND d.player_name <> o.player_name ORDER BY 1",
    )
    assert respelled == [
        ("Ezekiel Bellweather", "Zeke Bellweather"),
        ("Hollis Blackwood (Q)", "Hollis Blackwood"),
        ("Nolan Draxler (Q)", "Nolan Draxler"),
        ("Reginald Bellweather", "Reggie Bellweather"),
        ("Tre'Shawn Ashcroft (Q)", "Tre'Shawn Ashcroft"),
    ]
    assert books >= 4
    assert (sources, dates) == (2, 1)
    dupes = query(
        home,
        "SELECT count(*) FROM (SELECT slate_date, source, event_id, bookmaker, market, "
        "player_key, side, line, snapshot_at, count(*) n FROM prop_lines "
        "GROUP BY ALL HAVING n > 1)",
    )
    assert dupes == [(0,)]


def test_no_draftkings_spelling_is_a_player_of_its_own(first_run):
    """Every player DraftKings quotes on the incident day is a player the Odds API quotes:
    the alias table knows the stand-in league's spellings, normalisation drops " (Q)", and
    `players unresolved` has no DraftKings name left to report."""
    home, _ = first_run
    own = query(
        home,
        f"SELECT DISTINCT player_name FROM prop_lines WHERE source = 'draftkings' AND {D} "
        f"AND player_key NOT IN (SELECT player_key FROM prop_lines "
        f"WHERE source = 'odds_api' AND {D}) ORDER BY 1",
    )
    assert own == []
    result = run_cli("players", "unresolved", f"date={INCIDENT}", f"home={home}", "format=json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sources"] == ["draftkings", "odds_api"]
    # One player only the Odds API quotes: the 11th of the slate's only 11-player game, whose
    # markets DraftKings suspends (test_prop_lines_schema_and_partition). Genuinely one source:
    # no DraftKings name in his game is missing from the Odds API, so no candidate either.
    assert [(u["source"], u["name"], u["candidates"]) for u in report["unresolved"]] == [
        ("odds_api", "Jonás Hargrove", [])
    ]


def test_the_four_excluded_players_judged_again_with_draftkings_still_fail(first_run):
    """The gate's verdicts on the incident's four bad points lines, with DraftKings' own
    board beside the Odds API's books (docs/rules.md says why each still fails)."""
    home, _ = first_run
    verdicts = query(
        home,
        "SELECT player_name, passed, reasons, books, usable_books FROM line_quality "
        "WHERE market = 'player_points' AND player_name IN ('Andrés Kingsley', "
        "'Bryce Lindqvist', 'Dante Pennington', 'Quentin Marchetti') ORDER BY 1",
    )
    assert verdicts == [
        # DraftKings again: the one book he had, not a second one.
        ("Andrés Kingsley", False, ["too_few_books"], 1, 1),
        # Every book, DraftKings too, posts 4.5.
        ("Bryce Lindqvist", False, ["out_of_range"], 6, 0),
        # DraftKings posts a fresh line beside the two stale books: one usable, two needed.
        ("Dante Pennington", False, ["stale"], 3, 1),
        # DraftKings posts the same plus-money pair.
        ("Quentin Marchetti", False, ["inconsistent_prices"], 3, 0),
    ]


def test_rerun_is_identical_and_makes_no_request(first_run):
    home, _ = first_run
    before = table_checksum(home, "prop_lines")
    again = run_cli("run", f"date={INCIDENT}", f"home={home}")
    assert again.code == 0, again.stderr
    assert table_checksum(home, "prop_lines") == before
    # The partition is complete: the rerun is answered from its record (nothing in run_history);
    # whichever way, the rerun's own requests are none.
    rerun_id = re.search(r"^run (\S+): completed", again.stdout, re.M).group(1)
    requests = query(
        home, "SELECT coalesce(sum(requests), 0) FROM run_history WHERE run_id = ?", [rerun_id]
    )
    assert requests == [(0,)]
    assert " 0 HTTP requests" in again.stdout


def test_refresh_refetches_and_leaves_no_duplicate(first_run):
    home, _ = first_run
    before = table_checksum(home, "prop_lines")
    refreshed = run_cli("run", f"date={INCIDENT}", f"home={home}", "refresh=true")
    assert refreshed.code == 0, refreshed.stderr
    assert "0 HTTP requests" not in refreshed.stdout
    assert table_checksum(home, "prop_lines") == before
    # The tables declare no keys (their indexes grew with the history); the writes keep each
    # natural key once, the second run's rows having replaced the first's.
    declared = "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
    assert query(home, declared) == [(0,)]
    for table, key in NATURAL_KEYS.items():
        rows, keys = query(home, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}")[0]
        assert rows == keys > 0, table


#: The tables a run writes twice on a refresh, with their natural keys (`schema.TABLES`).
NATURAL_KEYS = {
    "landed_files": "path",
    "processed_files": "file_id, slate_date",
    "validations": "slate_date",
    "consolidations": "slate_date",
    "line_quality": "slate_date, market, player_key",
    "blocked_resources": "source, slate_date, resource",
    "prediction_batches": "batch_id",
}


def test_strict_exits_3_when_a_source_is_blocked(tmp_path):
    result = run_cli("run", f"date={INCIDENT}", f"home={tmp_path}", "strict=true")
    assert result.code == 3, result.stdout + result.stderr


def _first_pass_landed(tmp_path: Path, *extra: str) -> tuple[Path, tuple[str, ...], Path]:
    """The incident day's first Odds API pass alone among the cassettes: the home, the
    `lineflow run` arguments replaying them (`extra` added), and the second pass, which a test
    copies into `tmp_path / "cassettes"` to land it later (`_land`)."""
    cassettes = tmp_path / "cassettes"
    passes = sorted((FIXTURES / "odds_api" / INCIDENT).glob("live-*.json.gz"))
    assert len(passes) == 2
    (cassettes / "odds_api" / INCIDENT).mkdir(parents=True)
    shutil.copy(passes[0], cassettes / "odds_api" / INCIDENT)
    home = tmp_path / "home"
    args = (
        "run",
        f"date={INCIDENT}",
        f"home={home}",
        f"http.cassettes={cassettes}",
        "only=[odds_api]",
        *extra,
    )
    return home, args, passes[1]


def _land(tmp_path: Path, cassette: Path) -> None:
    shutil.copy(cassette, tmp_path / "cassettes" / "odds_api" / INCIDENT)


def test_the_early_run_does_not_hide_later_files(tmp_path):
    """The 1-of-16 bug: a run before the second snapshot landed must not stop it loading."""
    home, args, second = _first_pass_landed(tmp_path)
    assert run_cli(*args).code == 0
    assert query(home, f"SELECT count(DISTINCT file_id) FROM prop_lines WHERE {D}") == [(8,)]
    _land(tmp_path, second)  # the second snapshot lands later
    assert run_cli(*args).code == 0
    assert query(home, f"SELECT count(DISTINCT file_id) FROM prop_lines WHERE {D}") == [(16,)]


def test_runs_whose_predictions_start_in_the_same_second_each_get_a_batch(tmp_path):
    """A prediction batch was named by its partition and the second it started: a run whose new
    file came within the second of the last run's predictions failed on the state store's
    unique batch id (the test above, about one time in four). Both runs' clocks start at the
    same `now` here, so their predictions start in the same second every time."""
    home, args, second = _first_pass_landed(tmp_path, "now=2026-01-23T23:00:00Z")
    first = run_cli(*args)
    assert first.code == 0, first.stdout + first.stderr
    _land(tmp_path, second)
    again = run_cli(*args)
    assert again.code == 0, again.stdout + again.stderr
    batches = query(home, f"SELECT batch_id, status FROM prediction_batches WHERE {D}")
    assert len(batches) == 2 and len({b for b, _ in batches}) == 2
    assert {s for _, s in batches} <= {"complete", "complete_with_exclusions"}


def test_files_dropped_into_the_landing_zone_by_hand_are_processed(first_run, tmp_path):
    source_home, _ = first_run
    home = tmp_path / "home"
    # Restore one pass's files "from a bucket" into a fresh home, with no manifest rows and
    # without the fetch-metadata sidecars (so nothing says which URL they came from).
    restored = sorted((source_home / "landing" / "odds_api").rglob("live-20260123T140000Z"))
    for folder in restored:
        target = home / "landing" / folder.relative_to(source_home / "landing")
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".*.meta"))
    empty = tmp_path / "no-cassettes"
    result = run_cli(
        "run", f"date={INCIDENT}", f"home={home}", f"http.cassettes={empty}", "only=[odds_api]"
    )
    # No recorded pass to replay, so scrape fails; the dropped files are processed regardless.
    assert "no recorded pass" in result.stdout
    assert query(home, f"SELECT count(DISTINCT file_id) FROM prop_lines WHERE {D}") == [(8,)]
    assert query(home, "SELECT count(*) FROM landed_files WHERE url IS NULL") == [(9,)]


def test_a_request_missing_from_the_cassettes_fails_clearly(tmp_path):
    import gzip
    import json

    cassettes = tmp_path / "cassettes"
    shutil.copytree(FIXTURES / "odds_api" / INCIDENT, cassettes / "odds_api" / INCIDENT)
    first = sorted((cassettes / "odds_api" / INCIDENT).glob("live-*.json.gz"))[0]
    data = json.loads(gzip.decompress(first.read_bytes()))
    dropped = data["interactions"].pop()  # the last event-odds request of the pass
    first.write_bytes(gzip.compress(json.dumps(data).encode()))
    result = run_cli(
        "run",
        f"date={INCIDENT}",
        f"home={tmp_path / 'h'}",
        f"http.cassettes={cassettes}",
        "only=[odds_api]",
        env={"ODDS_API_KEY": "a-real-looking-secret-0123456789abcdef"},
    )
    assert result.code == 1
    path = dropped["request"]["uri"].split("?")[0]
    assert f"replay: no recorded response for GET https://api.the-odds-api.com{path}" in (
        result.stdout
    )
    assert "apiKey=REDACTED" in result.stdout
    assert "0123456789abcdef" not in result.stdout + result.stderr


def test_secrets_never_reach_logs_landing_manifest_or_warehouse(tmp_path):
    secret_odds = "odds-secret-9f8e7d6c5b4a39281706"
    secret_bp = "bp-secret-0a1b2c3d4e5f6a7b8c9d0e1f"
    home = tmp_path / "home"
    result = run_cli(
        "run",
        f"date={INCIDENT}",
        f"home={home}",
        env={"ODDS_API_KEY": secret_odds, "BETTINGPROS_API_KEY": secret_bp},
    )
    assert result.code == 0
    assert secret_odds not in result.stdout + result.stderr
    leaks = [
        path
        for path in home.rglob("*")
        if path.is_file()
        and (secret_odds.encode() in path.read_bytes() or secret_bp.encode() in path.read_bytes())
    ]
    assert leaks == []
    urls = query(home, "SELECT url FROM landed_files WHERE url IS NOT NULL")
    assert urls and all("apiKey=REDACTED" in u for (u,) in urls if "the-odds-api" in u)


def test_no_fixture_holds_a_credential():
    import gzip
    import re

    pattern = re.compile(rb"(apiKey|api_key)=(?!REDACTED)[^&\"\s]+|x-api-key|standin-\w+-key")
    offenders = [
        p.name
        for p in Path(FIXTURES).rglob("*.json.gz")
        if pattern.search(gzip.decompress(p.read_bytes()))
    ]
    assert offenders == []
