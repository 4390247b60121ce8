"""`lineflow health`: phases count distinct processors, never rows; completeness; alerts; grade."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl

from lineflow.reporting.health import Phase, grade, phases
from lineflow.reporting.status import Component
from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import RunRow
from tests.conftest import run_cli

T0 = datetime(2026, 1, 23, 14, 0, tzinfo=UTC)


def run_row(processor: str, phase: str, status: str, minute: int, rows: int = 0) -> RunRow:
    at = T0 + timedelta(minutes=minute)
    return RunRow(
        "r",
        processor,
        phase,
        date(2026, 1, 23),
        status,
        at,
        at + timedelta(seconds=2),
        1,
        rows,
        0,
        None,
    )


def test_a_processor_that_ran_70_times_counts_once(tmp_path):
    # The original e-mail said "Phase 2: 1530/21" (rows) and "Phase 1: 0/21" (no scraper logs).
    home = tmp_path / "home"
    warehouse = DuckDBWarehouse(home / "lineflow.duckdb")
    warehouse.record_runs(
        [run_row("scrape:odds_api", "scrape", "success", 0)]
        + [run_row("process:odds_api", "process", "success", i, rows=1530) for i in range(70)]
    )
    result = run_cli(
        "health",
        "date=2026-01-23",
        f"home={home}",
        "format=json",
        "pipeline.stages=[scrape,process]",
        "sources.bettingpros.enabled=false",
        "sources.draftkings.enabled=false",
    )
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    completion = {p["stage"]: p["completion"] for p in report["phases"]}
    assert completion == {"scrape": "1/1", "process": "1/1"}
    process = next(p for p in report["phases"] if p["stage"] == "process")
    assert process["runs"] == 70 and process["rows"] == 1530
    assert [p["status"] for p in report["phases"]] == ["complete", "complete"]
    text = run_cli(
        "health",
        "date=2026-01-23",
        f"home={home}",
        "format=markdown",
        "pipeline.stages=[scrape,process]",
        "sources.bettingpros.enabled=false",
        "sources.draftkings.enabled=false",
    ).stdout
    # the figures are the partition's (nothing staged in this home), never the runs' rows
    assert "| phase 2 process | 1/1 | complete | 70 | 0 files processed, 0 rows staged |" in text
    assert "70/" not in text and "/70" not in text


def test_phase_counts_processors_configured_not_those_that_ran():
    configured = {"scrape": ["scrape:odds_api", "scrape:bettingpros"]}
    runs = pl.DataFrame(
        [
            {
                "processor": "scrape:odds_api",
                "phase": "scrape",
                "status": "success",
                "rows": 0,
                "seconds": 1.0,
                "error": None,
                "started_at": T0,
            },
            {
                "processor": "scrape:odds_api",
                "phase": "scrape",
                "status": "success",
                "rows": 0,
                "seconds": 1.0,
                "error": None,
                "started_at": T0 + timedelta(minutes=15),
            },
        ]
    )
    (phase,) = phases(configured, runs)
    assert (phase.completion, phase.status) == ("1/2", "partial")


def p(status_of: str) -> Phase:
    names = ["a", "b"]
    succeeded = {"complete": names, "partial": ["a"], "failed": []}[status_of]
    failures = [{"processor": "b", "status": "failed", "error": "x", "started_at": T0}]
    return Phase(1, "s", names, succeeded, 2, 0, 0.0, failures if status_of != "complete" else [])


def test_grade_follows_the_phases_and_the_data():
    ok = [Component("odds_api props", 400, 433, "ok")]
    assert grade([p("complete"), p("complete")], ok) == "healthy"
    assert grade([p("complete"), p("partial")], ok) == "failed"  # b failed, never succeeded
    assert grade([p("complete"), p("failed")], ok) == "failed"
    blocked_only = Phase(
        1,
        "scrape",
        ["a", "b"],
        ["a"],
        2,
        0,
        0.0,
        [{"processor": "b", "status": "blocked", "error": "403", "started_at": T0}],
    )
    assert grade([blocked_only], ok) == "partial"
    assert grade([p("complete")], [Component("odds_api props", 400, 27, "short")]) == "partial"
    assert grade([Phase(1, "s", ["a"], [], 0, 0, 0.0)], ok) == "failed"  # nothing ran


def test_incident_day_is_partial_with_bettingpros_blocked(week_home):
    result = run_cli("health", "date=2026-01-23", f"home={week_home}", "format=json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["grade"] == "partial"
    # Three sources: the Odds API and DraftKings scraped, BettingPros blocked.
    assert [(p["stage"], p["completion"]) for p in report["phases"]] == [
        ("scrape", "2/3"),
        ("process", "3/3"),
        ("validate", "1/1"),
        ("consolidate", "1/1"),
        ("predict", "1/1"),
    ]
    failures = report["phases"][0]["failures"]
    assert [(f["processor"], f["status"]) for f in failures] == [("scrape:bettingpros", "blocked")]
    alerts = [(a["level"], a["kind"]) for a in report["alerts"]]
    assert ("critical", "blocked") in alerts
    assert report["proxy_history"] == "not recorded yet"
    rows = {(r["day"], r["source"]): r["rows"] for r in report["rows_history"]}
    assert rows[("2026-01-23", "odds_api")] == 6268
    assert rows[("2026-01-23", "draftkings")] == 564
    assert rows[("2026-01-19", "bettingpros")] == 1282
    assert rows[("2026-01-17", "bettingpros")] == 0  # days=7 reaches before the week


def test_terminal_summary_and_default_date(week_home):
    result = run_cli("health", f"home={week_home}")  # the latest date in run history
    assert result.code == 0, result.stderr
    assert "lineflow health 2026-01-23: partial" in result.stdout
    assert "phase 1 scrape" in result.stdout and "2/3" in result.stdout
    assert "[critical] bettingpros props: source blocked" in result.stdout


def test_alerts_for_old_locks_dead_letters_and_low_quota(week_copy):
    from datetime import UTC, datetime

    from lineflow.state import SqliteStore

    def at(hour: int, minute: int) -> float:
        return datetime(2026, 1, 23, hour, minute, tzinfo=UTC).timestamp()

    store = SqliteStore(week_copy / "state.sqlite")
    for feature in ("locks", "work", "quota"):
        store.ensure(feature)
    with store.transaction() as con:
        con.execute(
            "INSERT INTO locks VALUES ('nba_props:process:2026-01-23', 'nba_props', 'process', "
            "'2026-01-23', 'batch-host', 4242, 'exec-1', ?, ?, ?)",
            (at(14, 0), at(14, 0), at(14, 30)),
        )
        for key, replayed in (("m1", None), ("m2", at(15, 0))):
            con.execute(
                "INSERT INTO dead_letters (kind, key, partition, reason, permanent, attempts, "
                "payload_ref, payload, created_at, replayed_at) "
                "VALUES ('trigger', ?, '2026-01-23', 'malformed gcs_path', 1, 1, ?, NULL, ?, ?)",
                (key, f"message:{key}", at(14, 5), replayed),
            )
        con.execute(
            "INSERT OR REPLACE INTO source_quota VALUES ('odds_api', 120, 19880, 4, ?)",
            ("2026-01-23T14:30:00+00:00",),
        )
    result = run_cli(
        "health", "date=2026-01-23", f"home={week_copy}", "format=json", "now=2026-01-23T14:20:00Z"
    )
    assert result.code == 0, result.stderr
    messages = [a["message"] for a in json.loads(result.stdout)["alerts"]]
    assert "lock nba_props:process:2026-01-23 held for 20 min" in messages
    assert "1 dead letters waiting" in messages
    assert "odds_api: 120 requests left this month" in messages
