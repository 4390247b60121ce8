"""The validate stage end to end: results per rule, quarantine, the gate, severities, blocking."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from lineflow.config import compose
from lineflow.core.schema import PROP_LINES, conform
from lineflow.pipeline import figures
from lineflow.pipeline.request import RunRequest
from lineflow.pipeline.runner import open_context
from lineflow.pipeline.stages import consolidate, validate
from lineflow.pipeline.stages.base import StagedRows
from lineflow.rules import Circumstances, Evaluation, RuleFile
from lineflow.rules.evaluate import evaluate_rule
from tests.conftest import FIXTURES, INCIDENT, query, run_cli, table_checksum
from tests.rules.test_rule_files import conf_with_rules
from tests.support.standin import draftkings
from tests.support.standin.datagen import incident_bad_players, slate

D = f"slate_date = DATE '{INCIDENT}'"
GATE_REASON = {"single_book": "too_few_books"}  # the fixtures' name -> the gate's


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    home = tmp_path_factory.mktemp("validate") / "home"
    out = run_cli("run", f"date={INCIDENT}", f"home={home}")
    assert out.code == 0, out.stdout + out.stderr
    (run_id,) = query(home, "SELECT DISTINCT run_id FROM run_history")[0]
    return home, run_id, out


def test_every_configured_rule_has_a_result_for_the_run(incident):
    home, run_id, _ = incident
    configured = {r.id for r in compose([]).rule_list()}
    rows = query(home, "SELECT rule_id FROM validation_results WHERE run_id = ?", [run_id])
    assert sorted(r for (r,) in rows) == sorted(configured)


def test_bad_rows_are_quarantined_with_rule_and_file_and_kept_out_of_prop_lines(incident):
    home, _, _ = incident
    held = query(
        home,
        f"SELECT rule_id, player_name, count(*), count(DISTINCT file_id) FROM quarantine "
        f"WHERE {D} GROUP BY ALL ORDER BY 1",
    )
    assert [(r, p) for r, p, _, _ in held] == [
        ("over_under_pair_consistent", "Quentin Marchetti"),
        ("points_line_in_range", "Bryce Lindqvist"),
    ]
    assert all(n > 0 and files > 0 for _, _, n, files in held)
    unknown_files = query(
        home,
        "SELECT count(*) FROM quarantine WHERE file_id NOT IN (SELECT file_id FROM landed_files)",
    )
    assert unknown_files == [(0,)], "each quarantined row points at the raw file it came from"
    leaked = query(
        home,
        "SELECT count(*) FROM prop_lines p JOIN quarantine q USING (file_id, event_id, "
        "bookmaker, market, player_key, side, line, snapshot_at)",
    )
    assert leaked == [(0,)]
    assert query(home, f"SELECT count(*) FROM prop_lines WHERE {D}")[0][0] > 6000


def test_the_gate_fails_exactly_the_four_bad_players_each_for_its_own_reason(incident):
    """The incident's four bad points lines, each for its own reason, and nobody else: the five
    players DraftKings spells its own way resolve to the players the Odds API quotes."""
    home, _, out = incident
    failing = query(
        home,
        f"SELECT player_name, reasons FROM line_quality "
        f"WHERE {D} AND market = 'player_points' AND NOT passed ORDER BY 1",
    )
    expected = {name: GATE_REASON.get(r, r) for name, r in incident_bad_players().items()}
    spellings = {
        draftkings.player_name(p, g)
        for g in slate(date.fromisoformat(INCIDENT)).games
        for p in g.prop_players
        if draftkings.player_name(p, g) != p.name
    }
    # "Ezekiel"/"Reginald" Bellweather for Zeke/Reggie, three with a " (Q)" lineup suffix.
    assert len(spellings) == 5
    assert {name: reasons for name, reasons in failing} == {
        name: [reason] for name, reason in expected.items()
    }
    assert len(set(expected.values())) == 4
    # One verdict per player with points lines (81, tests/test_run_incident.py), whoever
    # spelled him: the five spellings are no keys of their own.
    judged = query(
        home, f"SELECT count(*) FROM line_quality WHERE {D} AND market = 'player_points'"
    )
    assert judged == [(81,)]
    assert "Bryce Lindqvist points (out_of_range)" in out.stdout


def test_a_blocked_source_is_reported_blocked_not_failed(incident):
    home, run_id, _ = incident
    ((outcome, passed, detail),) = query(
        home,
        "SELECT outcome, passed, detail FROM validation_results "
        "WHERE run_id = ? AND rule_id = 'bettingpros_players'",
        [run_id],
    )
    assert (outcome, passed) == ("blocked", None)
    assert "403" in detail


def test_validate_alone_reruns_the_rules_and_prints_a_line_per_rule(incident):
    home, _, _ = incident
    before = table_checksum(home, "prop_lines")
    out = run_cli("validate", f"date={INCIDENT}", f"home={home}")
    assert out.code == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    for rule in compose([]).rule_list():
        assert any(line.split()[1:2] == [rule.id] for line in lines if line.split()), rule.id
    assert any(line.split()[:2] == ["blocked", "bettingpros_players"] for line in lines)
    # The Odds API's 285 player markets; DraftKings quotes a subset of the same players (its
    # own spellings resolved), so it adds books, not markets, and only the four bad points
    # lines and Jonah Merriweather Sr.'s one-book threes fail.
    assert "line quality: 5 of 285 player markets fail" in out.stdout
    assert "Dante Pennington: stale" in out.stdout
    assert table_checksum(home, "prop_lines") == before, "validate alone consolidates nothing"
    ((run_id,),) = query(
        home,
        "SELECT run_id FROM run_history WHERE processor = 'validate' "
        "ORDER BY finished_at DESC LIMIT 1",
    )
    assert query(home, "SELECT count(*) FROM validation_results WHERE run_id = ?", [run_id]) == [
        (len(compose([]).rule_list()),)
    ]


def test_a_rule_change_releases_rows_that_now_pass(tmp_path):
    env = conf_with_rules(tmp_path, "none", "table: prop_lines\nchecks: []\n")
    home = tmp_path / "home"
    args = ("run", f"date={INCIDENT}", f"home={home}", f"http.cassettes={FIXTURES}")
    assert run_cli(*args, env=env).code == 0
    bryce = f"SELECT count(*) FROM prop_lines WHERE {D} AND player_key = 'bryce_lindqvist'"
    assert query(home, bryce) == [(0,)]
    rules = Path(env["LINEFLOW_CONFIG_DIR"]) / "rules" / "prop_lines.yaml"
    rules.write_text(
        rules.read_text().replace("player_points: [5.5, 50.5]", "player_points: [4, 50.5]")
    )
    again = run_cli(*args, env=env)
    assert again.code == 0, again.stdout + again.stderr
    assert query(home, bryce)[0][0] > 0
    assert query(home, "SELECT DISTINCT rule_id FROM quarantine") == [
        ("over_under_pair_consistent",)
    ]


def _odds_api_only(tmp_path: Path, rules: str) -> tuple[dict[str, str], tuple[str, ...]]:
    env = conf_with_rules(tmp_path, "extra", "table: prop_lines\nchecks:\n" + rules)
    home = tmp_path / "home"
    args = (
        "run",
        f"date={INCIDENT}",
        f"home={home}",
        f"http.cassettes={FIXTURES}",
        "only=[odds_api]",
        "strict=true",
    )
    return env, args


def three_books(severity: str) -> str:
    """A rule asking for 3 bookmakers per player market, which the Odds API alone fails."""
    return (
        "  - {id: three_books, kind: min_count, group_by: [market, player_key],"
        f" count_distinct: bookmaker, min: 3, severity: {severity}}}\n"
    )


def test_a_failing_warning_changes_nothing(tmp_path):
    env, args = _odds_api_only(
        tmp_path,
        three_books("warn"),
    )
    out = run_cli(*args, env=env)
    assert out.code == 0, out.stdout + out.stderr
    assert "three_books (warn) fail" in out.stdout


def test_a_failing_error_rule_makes_the_run_partial_and_strict_exits_3(tmp_path):
    env, args = _odds_api_only(
        tmp_path,
        three_books("error"),
    )
    out = run_cli(*args, env=env)
    assert out.code == 3, out.stdout + out.stderr
    home = Path(args[2].removeprefix("home="))
    statuses = dict(query(home, "SELECT processor, status FROM run_history"))
    assert statuses["validate"] == "partial"
    assert statuses["consolidate"] == "success", "an error is reported, the partition goes on"


def test_a_rerun_with_nothing_changed_says_the_same_and_writes_nothing(tmp_path):
    env, args = _odds_api_only(
        tmp_path,
        three_books("error"),
    )
    home = Path(args[2].removeprefix("home="))
    assert run_cli(*args, env=env).code == 3
    results = "SELECT count(*) FROM validation_results"
    written = query(home, results)
    again = run_cli(*args, env=env)
    assert again.code == 3, "still partial: the rerun reports what the rules concluded"
    assert "three_books (error) fail" in again.stdout
    assert "unchanged since the last validation" in again.stdout
    assert query(home, results) == written, "nothing evaluated, nothing appended"
    forced = run_cli(*args, "refresh=true", env=env)
    assert forced.code == 3
    assert query(home, results)[0][0] == 2 * written[0][0], "refresh=true evaluates again"


def test_a_failing_blocking_rule_stops_the_partitions_later_stages(tmp_path):
    env, args = _odds_api_only(
        tmp_path,
        three_books("warn, blocking: true"),
    )
    out = run_cli(*args, env=env)
    assert out.code == 1, out.stdout + out.stderr
    assert "validate failed: blocking rule 'three_books' failed" in out.stdout
    home = Path(args[2].removeprefix("home="))
    statuses = dict(query(home, "SELECT processor, status FROM run_history"))
    assert statuses["validate"] == "failed"
    assert "consolidate" not in statuses
    assert query(home, "SELECT count(*) FROM prop_lines") == [(0,)]
    assert query(home, "SELECT count(*) FROM validation_results WHERE rule_id = 'three_books'")


def _drop_schedule(home: Path, day: str, events: list[dict[str, str]]) -> None:
    """An Odds API events listing for `day`, put into the landing zone by hand."""
    folder = home / "landing" / "odds_api" / "events" / day / f"live-{day.replace('-', '')}T140000Z"
    folder.mkdir(parents=True)
    (folder / "events.json").write_text(json.dumps(events))


def _schedule_run(home: Path, day: str) -> tuple[int, str]:
    out = run_cli(
        "run",
        f"date={day}",
        f"home={home}",
        "only=[odds_api]",
        "pipeline.stages=[process,validate]",
    )
    ((outcome,),) = query(
        home,
        "SELECT outcome FROM validation_results WHERE rule_id = 'odds_api_points_rows'",
    )
    return out.code, outcome


def test_a_date_without_games_is_legitimately_empty(tmp_path):
    home = tmp_path / "home"
    _drop_schedule(home, "2026-02-10", [])
    code, outcome = _schedule_run(home, "2026-02-10")
    assert (code, outcome) == (0, "empty")


def test_a_date_with_games_and_no_lines_fails_completeness(tmp_path):
    home = tmp_path / "home"
    game = {
        "id": "a" * 32,
        "sport_key": "basketball_nba",
        "commence_time": "2026-02-11T00:30:00Z",
        "home_team": "Boston Celtics",
        "away_team": "Miami Heat",
    }
    _drop_schedule(home, "2026-02-10", [game])
    code, outcome = _schedule_run(home, "2026-02-10")
    assert (code, outcome) == (0, "fail")
    ((detail,),) = query(
        home, "SELECT detail FROM validation_results WHERE rule_id = 'odds_api_points_rows'"
    )
    assert detail == "only 0 rows from odds_api (at least 400) with 1 games scheduled"


def test_rows_handed_over_by_process_are_judged_as_if_read_back(tmp_path):
    # A first run validates the rows its process stage staged without reading them back;
    # validating again (refresh=true) reads them from the warehouse: the same conclusions.
    home = tmp_path / "home"
    assert run_cli("run", f"date={INCIDENT}", f"home={home}").code == 0
    judged = (
        "SELECT rule_id, outcome, checked, failed, sample_keys, detail FROM validation_results "
        "WHERE run_id = (SELECT run_id FROM run_history WHERE processor = 'validate' "
        "ORDER BY finished_at DESC LIMIT 1) ORDER BY rule_id"
    )
    # What was concluded, without who concluded it when.
    quarantined = (
        f"(SELECT * EXCLUDE (validation_run_id, quarantined_at) FROM quarantine WHERE {D})"
    )
    quality = f"(SELECT * EXCLUDE (run_id, evaluated_at) FROM line_quality WHERE {D})"
    first = query(home, judged)
    held = table_checksum(home, quarantined), table_checksum(home, quality)
    again = run_cli("validate", f"date={INCIDENT}", f"home={home}", "refresh=true")
    assert again.code == 0, again.stdout + again.stderr
    assert "unchanged since the last validation" not in again.stdout
    assert query(home, judged) == first
    assert (table_checksum(home, quarantined), table_checksum(home, quality)) == held
    assert held[0][0] > 0, "the incident's bad rows are quarantined both times"


def test_handed_rows_are_used_only_while_they_are_all_of_staging(tmp_path):
    # Another run may stage files between this run's process and validate stages: rows handed
    # over with an older staging fingerprint are not judged; staging is read instead.
    home = tmp_path / "home"
    assert run_cli("run", f"date={INCIDENT}", f"home={home}").code == 0
    ((staged,),) = query(home, f"SELECT count(*) FROM stg_prop_lines WHERE {D}")
    settings = compose([f"home={home}", f"date={INCIDENT}", "refresh=true"])
    ctx = open_context(settings, RunRequest.from_settings(settings))
    with ctx.warehouse.hold():
        current = ctx.warehouse.staging_fingerprint(ctx.partition)
        nothing = pl.DataFrame(schema=PROP_LINES)
        ctx.handover.staged = StagedRows(("older", 0), nothing)
        (judged,) = validate.run(ctx)
        assert judged.rows == staged > 0, "read back: the handed rows were out of date"
        # counted from what it wrote: what `status` reads back agrees (quarantine included)
        assert judged.figures == figures.verdicts(ctx.warehouse, ctx.partition)
        assert judged.figures["rows_quarantined"] > 0
        ctx.handover.staged = StagedRows(current, nothing)
        (taken,) = validate.run(ctx)
        assert taken.rows == 0, "still all of staging: the handed rows are the ones judged"


def test_consolidate_takes_the_staging_validate_judged_only_in_turn_with_process(tmp_path):
    # A full run's consolidation took the staging fingerprint validate judged (no second
    # read): a consolidation alone reads it and finds the same, so nothing to redo.
    home = tmp_path / "home"
    assert run_cli("run", f"date={INCIDENT}", f"home={home}").code == 0
    settings = compose([f"home={home}", f"date={INCIDENT}"])
    request = RunRequest.from_settings(settings)
    alone = open_context(settings, request.replace(stages=("consolidate",)))
    with alone.warehouse.hold():
        alone.handover.judged = ("older", 0)  # not validate's of this run: read instead
        (result,) = consolidate.run(alone)
    assert "unchanged since the last consolidation" in result.notes
    # After validate alone, another run's process may have staged files meanwhile: read.
    bare = open_context(settings, request.replace(stages=("validate", "consolidate")))
    with bare.warehouse.hold():
        bare.handover.judged = ("older", 0)
        (result,) = consolidate.run(bare)
    assert "unchanged since the last consolidation" in result.notes
    # Process, validate and consolidate in turn: what validate handed over is what counts.
    after = open_context(settings, request.replace(stages=("process", "validate", "consolidate")))
    with after.warehouse.hold():
        after.handover.judged = ("older", 0)
        (result,) = consolidate.run(after)
    assert "unchanged since the last consolidation" not in result.notes
    assert after.handover.judged is None, "taken, not kept for a later stage"


#: Rules beyond the configured ones that fail some of the incident's rows, one of each path
#: through a partition's one pass: SQL `where`s shared and not, a column named by pattern, row
#: checks judged alone (an expression with a `where`).
MORE_RULES = [
    {"id": "short_odds", "kind": "between", "column": "line", "max": 25,
     "where": "source = 'odds_api'"},
    {"id": "favourites", "kind": "row", "sql": "price_american < 0", "where": "is_main_line",
     "severity": "warn"},
    {"id": "near_even", "kind": "row", "sql": "abs(price_american) < 150"},
    {"id": "below_mean", "kind": "row", "polars": "pl.col('line') < pl.col('line').mean()",
     "where": "market = 'player_points'"},
    {"id": "cheap", "kind": "row", "polars": "pl.col('implied_prob') < 0.55"},
    {"id": "mid_lines", "kind": "line_range", "where": "side = 'over'",
     "markets": {"player_points": [10.5, 30.5], "player_rebounds": [2.5, 12.5]}},
    {"id": "early_names", "kind": "regex", "column": "player_key", "pattern": "^[a-m]"},
    {"id": "two_books", "kind": "in_set", "column": "bookmaker",
     "values": ["draftkings", "fanduel"]},
    {"id": "very_fresh", "kind": "freshness", "max_age_hours": 0.5},
    {"id": "tight_odds", "kind": "american_odds", "max_abs": 150,
     "where": "line > 20 AND market = 'player_points'"},
    {"id": "sure_things", "kind": "between", "column": "price_decimal", "min": 1.8,
     "where": "COLUMNS('implied_.*') > 0.5"},
    {"id": "twenties", "kind": "placeholder_line", "value": 20.5, "sources": ["odds_api"]},
    {"id": "whole_only", "kind": "line_granularity", "default": ["whole"],
     "markets": {"player_points": ["half"]}, "where": "is_main_line"},
    {"id": "three_books", "kind": "min_count", "group_by": ["market", "player_key"],
     "count_distinct": "bookmaker", "min": 3, "where": "side = 'over'"},
    {"id": "tight_pairs", "kind": "pair_sum", "min": 1.0, "max": 1.05, "where": "is_main_line"},
]  # fmt: skip


def test_rules_judged_in_one_pass_conclude_what_each_rule_alone_does(incident, monkeypatch):
    """A partition's rules are judged together (one query for the SQL conditions, one select for
    the row checks): the results, the quarantine and each finding's rows are those of every rule
    judged alone, the slow way."""
    home, _, _ = incident
    con = duckdb.connect(str(home / "lineflow.duckdb"), read_only=True)
    try:
        staging = conform(
            con.execute(f"SELECT {', '.join(PROP_LINES)} FROM stg_prop_lines WHERE {D}").pl()
        )
    finally:
        con.close()
    added = RuleFile.model_validate(
        {"table": "prop_lines", "checks": [{"severity": "quarantine", **r} for r in MORE_RULES]}
    ).rules()
    rules = [*compose([]).rule_list(), *added]
    facts = Circumstances(games=8, blocked={"bettingpros": "HTTP 403"})
    alone = [evaluate_rule(rule, staging, facts) for rule in rules]
    judged_alone = []
    one_by_one = evaluate_rule
    rules_evaluate = sys.modules["lineflow.rules.evaluate"]  # the package names the function
    monkeypatch.setattr(
        rules_evaluate,
        "evaluate_rule",
        lambda rule, *a: judged_alone.append(rule.id) or one_by_one(rule, *a),
    )
    together = rules_evaluate.evaluate(rules, staging, facts)
    assert judged_alone == ["favourites", "below_mean"], "only row checks with a where alone"
    assert together.results().equals(Evaluation(alone).results())
    assert (
        together.quarantine(PROP_LINES)
        .sort(pl.all())
        .equals(Evaluation(alone).quarantine(PROP_LINES).sort(pl.all()))
    )
    for mine, theirs in zip(together.findings, alone, strict=True):
        assert (mine.failing_rows is None) == (theirs.failing_rows is None), mine.rule.id
        if mine.failing_rows is not None and theirs.failing_rows is not None:
            assert mine.failing_rows.sort(pl.all()).equals(theirs.failing_rows.sort(pl.all()))
    failing = {f.rule.id for f in alone if f.failed}
    assert failing >= {r["id"] for r in MORE_RULES}, "every added rule fails some rows"
    assert {f.rule.id for f in alone if f.failed < f.checked} >= {r["id"] for r in MORE_RULES}
