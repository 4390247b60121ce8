"""`lineflow status date=D`: the truth of each date of the incident week, one command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lineflow.config import SourceExpectation
from lineflow.reporting.status import judge_predictions, judge_source
from tests.conftest import run_cli

EXPECT = SourceExpectation(rows_per_game=50, players_per_game=10)


def status(home, day):
    result = run_cli("status", f"date={day}", f"home={home}", "format=json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    return report, {c["name"]: c for c in report["components"]}


def test_incident_day_odds_api_and_draftkings_ok_bettingpros_blocked_predictions_77(week_home):
    report, c = status(week_home, "2026-01-23")
    assert report["games"] == 8
    assert c["odds_api props"]["status"] == "ok"
    assert c["odds_api props"]["actual"] == 6268
    assert c["bettingpros props"]["status"] == "blocked"
    assert "403" in c["bettingpros props"]["note"]
    # DraftKings: 564 lines of 80 players (its board's 81 less one suspended market).
    assert c["draftkings props"] == {
        "name": "draftkings props",
        "expected": 400,
        "actual": 564,
        "status": "ok",
        "note": "80 players, 8 games",
        "unit": "rows",
    }
    assert c["predictions staging"]["status"] == "ok"
    # The 81 players the Odds API has points lines for; DraftKings' own spellings of five
    # of them ("Reginald"/"Ezekiel" Bellweather, three with " (Q)") resolve to the same keys
    # (conf/identity/default.yaml), so no extra player. The incident's four fail the gate.
    assert c["predictions main"] == {
        "name": "predictions main",
        "expected": 81,
        "actual": 77,
        "status": "ok",
        "note": "4 excluded by the line-quality gate",
        "unit": "player markets",
    }
    files = {f["source"]: f for f in report["files"]}
    assert list(files) == ["odds_api", "bettingpros", "draftkings"]
    assert files["odds_api"]["landed"] == files["odds_api"]["processed"] == 17
    assert files["odds_api"]["unprocessed"] == 0
    assert files["draftkings"]["landed"] == files["draftkings"]["processed"] == 4
    runs = {r["processor"]: r["status"] for r in report["last_runs"]}
    assert runs["scrape:bettingpros"] == "blocked" and runs["scrape:odds_api"] == "success"
    assert runs["scrape:draftkings"] == "success"
    assert report["locks"] == [] and report["dead_letters"] == []
    assert report["proxy_health"] == "not recorded yet", "replays keep proxy health in memory"
    assert report["prediction_batch"]["status"] == "complete_with_exclusions"


@pytest.mark.parametrize(
    ("day", "games", "bettingpros_rows"),
    [
        ("2026-01-19", 9, 1282),
        ("2026-01-20", 7, 1235),
        ("2026-01-21", 7, 1145),
        ("2026-01-22", 8, 1234),
    ],
)
def test_days_before_have_bettingpros_but_no_live_odds_api_lines(
    week_home, day, games, bettingpros_rows
):
    # Live Odds API props for past games come back empty: that is "missing", not "ok, 0 rows".
    report, c = status(week_home, day)
    assert report["games"] == games
    assert c["bettingpros props"]["status"] == "ok"
    assert c["bettingpros props"]["actual"] == bettingpros_rows
    assert c["odds_api props"]["status"] == "missing"
    assert c["odds_api props"]["expected"] == games * 50


def test_terminal_output_names_every_section(week_home):
    result = run_cli("status", "date=2026-01-23", f"home={week_home}")
    assert result.code == 0, result.stderr
    for words in (
        "data state",
        "blocked",
        "files per source",
        "last run of each stage",
        "locks held: 0",
        "dead letters: 0 waiting",
        "proxy health: not recorded yet",
        "complete_with_exclusions, 77/81 player markets, 0 failed, 4 excluded",
        "line quality: 280 of 285 player markets passed, 5 failed",
    ):
        assert words in result.stdout


def test_verdicts():
    assert judge_source("s", 0, 0, 0, None, EXPECT).status == "empty-day"
    assert judge_source("s", 8, 0, 0, None, EXPECT).status == "missing"
    assert judge_source("s", 8, 27, 5, None, EXPECT).status == "short"  # the 27-row day
    assert judge_source("s", 8, 433, 50, None, EXPECT).status == "short"  # too few players
    assert judge_source("s", 8, 433, 81, None, EXPECT).status == "ok"
    blocked = judge_source("s", 8, 0, 0, "HTTP 403", EXPECT)
    assert (blocked.status, blocked.actual) == ("blocked", 0)
    assert judge_source("s", None, 0, 0, None, EXPECT).status == "missing"
    stuck = {"expected": 81, "completed": 77, "excluded": 0, "status": "running"}
    made = {"rows": 154, "player_markets": 77}
    assert judge_predictions(stuck, made, 615)[1].status == "short"
    assert judge_predictions(stuck, made, 615)[0].status == "short"


def test_bad_input_is_one_line_and_exit_2(tmp_path, week_home):
    cases = [
        (
            ["status", "date=2026-01-23", f"home={week_home}", "format=xml"],
            "format: expected one of table, json, got 'xml'",
        ),
        (["status", f"home={week_home}"], "date: required"),
        (["status", "date=2026-01-23", f"home={tmp_path / 'none'}"], "no warehouse at"),
        (["health", f"home={week_home}", "days=0"], "days: expected a whole number"),
        (
            ["doctor", "date=2026-01-23", f"home={week_home}", "fix=maybe"],
            "fix: expected true or false",
        ),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert message in result.stderr
    assert not (tmp_path / "none").exists()


#: What `status` has no use for, and once loaded for nothing (docs/benchmarks.md, issue #23's
#: second round): the HTTP layer, health's report and charts, pyarrow.
NOT_FOR_STATUS = ("lineflow.http", "lineflow.reporting.health", "lineflow.reporting.charts")


def test_status_loads_nothing_it_does_not_use(week_home):
    code = (
        "import contextlib, io, json, sys\n"
        "from lineflow.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['status', 'date=2026-01-23', 'home={week_home}']) == 0\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    modules = json.loads(out.stdout)
    assert "lineflow.reporting.status" in modules
    assert [m for m in modules if m.startswith(NOT_FOR_STATUS) or m == "pyarrow"] == []


def test_status_reads_line_quality_and_predictions_for_the_figures_only(week_home):
    """The line-quality and prediction counts come from the figures' reads of those tables
    (the same numbers as their own readers give), not from reads of their own."""
    from datetime import UTC, date, datetime

    from lineflow.config import compose
    from lineflow.reporting import recorded
    from lineflow.reporting.status import gather

    settings = compose([f"home={week_home}"])
    stores = recorded.open_stores(settings)
    asked: list[str] = []
    query = stores.warehouse.query

    def counted(sql, params=()):
        asked.append(" ".join(sql.split()))
        return query(sql, params)

    stores.warehouse.query = counted  # type: ignore[method-assign]
    day = date(2026, 1, 23)
    report = gather(settings, stores, day, datetime(2026, 1, 24, tzinfo=UTC))
    # line_quality: validate's verdicts and predict's exclusions; predictions: predict's figures
    assert len([sql for sql in asked if "FROM line_quality" in sql]) == 2
    assert len([sql for sql in asked if "FROM predictions " in sql]) == 1
    stores.warehouse.query = query  # type: ignore[method-assign]
    assert report.line_quality == recorded.read_line_quality(stores, day)
    assert report.line_quality["failed"] > 0 and report.line_quality["passed"] > 0
    units = recorded.read_predictions(stores, day)["player_markets"]
    assert report.component("predictions main").actual == units == 77


def test_the_command_exempts_what_it_loaded_from_the_cycle_collector(week_home):
    """In its own process the command freezes what parsing loaded (the config's models,
    polars) before it works; called in another program's process it leaves that process's
    collector as it was."""
    import gc

    from lineflow.cli import main

    code = (
        "import atexit, contextlib, gc, io, sys\n"
        "atexit.register(lambda: print(gc.get_freeze_count(), file=sys.stderr))\n"
        f"sys.argv = ['lineflow', 'status', 'date=2026-01-23', 'home={week_home}']\n"
        "from lineflow.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main()\n"
        "sys.exit(code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stderr.split()[-1]) > 20_000, "the config's classes and polars, frozen"
    before = gc.get_freeze_count()
    assert main(["status", "date=2026-01-23", f"home={week_home}", "format=json"]) == 0
    assert gc.get_freeze_count() == before
