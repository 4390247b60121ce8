"""A rerun of a complete partition is answered from its record without opening the warehouse,
with exit 0 and the figures a full rerun reports; everything that gives the runner work still
runs (lineflow/pipeline/complete.py)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import INCIDENT, query, run_cli

RECORD = Path("complete") / "nba_props" / f"{INCIDENT}.json"


def run_json(home: Path, *extra: str) -> dict:
    result = run_cli("run", f"date={INCIDENT}", f"home={home}", "format=json", *extra)
    assert result.code in (0, 1), result.stderr
    return json.loads(result.stdout) | {"exit_code": result.code}


def ran(home: Path, report: dict) -> bool:
    """Whether the run did its stages (they write run_history; an answer from the record
    writes nothing there)."""
    rows = query(home, "SELECT count(*) FROM run_history WHERE run_id = ?", [report["run_id"]])
    return rows[0][0] > 0


def figures(report: dict) -> list[tuple]:
    return [
        (p["processor"], p["status"], p["figures"], p["requests"]) for p in report["processors"]
    ]


@pytest.fixture(scope="module")
def complete_home(tmp_path_factory):
    """A partition after its first run and one full rerun (whose figures the answer matches)."""
    home = tmp_path_factory.mktemp("complete") / "home"
    first = run_json(home)
    assert first["exit_code"] == 0 and ran(home, first)
    assert (home / RECORD).is_file()
    (home / RECORD).unlink()  # no record: the rerun runs every stage
    full_rerun = run_json(home)
    assert ran(home, full_rerun)
    return home, full_rerun


@pytest.fixture
def home(complete_home, tmp_path):
    """A copy of the complete partition's home, for a test that changes something."""
    copy = tmp_path / "home"
    shutil.copytree(complete_home[0], copy)
    return copy


def test_a_complete_partition_rerun_is_answered_with_the_same_figures(complete_home):
    home, full_rerun = complete_home
    warehouse = home / "lineflow.duckdb"
    before = warehouse.stat().st_mtime_ns
    answer = run_json(home)
    assert answer["exit_code"] == 0 and answer["verdict"] == full_rerun["verdict"]
    assert not ran(home, answer)
    assert warehouse.stat().st_mtime_ns == before  # not opened for writing
    assert figures(answer) == figures(full_rerun)
    assert answer["requests"] == 0
    assert any("partition complete since run" in n for n in answer["processors"][-1]["notes"])
    log = Path(answer["log"]).read_text().splitlines()
    assert json.loads(log[-1])["exit_code"] == 0  # the run log ends with the exit code


def test_a_changed_config_runs(home):
    again = run_json(home, "line_quality.min_books=3")
    assert ran(home, again)


def test_refresh_runs_and_asks_again(home):
    again = run_json(home, "refresh=true")
    assert ran(home, again) and again["requests"] > 0


def test_a_new_landed_file_runs_and_is_processed(home):
    # A file put into the landing zone by hand, as if restored from a bucket: process's work.
    landed = sorted((home / "landing" / "odds_api").rglob("*.json"))[0]
    pass_dir = landed.parent
    restored = pass_dir.with_name("live-20260123T150000Z") / landed.name
    restored.parent.mkdir()
    shutil.copy(landed, restored)
    again = run_json(home)
    assert ran(home, again)
    process = {p["processor"]: p for p in again["processors"]}["process:odds_api"]
    assert process["figures"]["files_processed"] == 0  # same content: one file in the ledger
    assert query(home, "SELECT count(*) FROM landed_files WHERE path LIKE '%T150000Z%'") == [(1,)]


def test_a_block_past_its_cooldown_runs(home):
    record = json.loads((home / RECORD).read_text())
    later = datetime.fromisoformat(record["valid_until"]) + timedelta(minutes=1)
    again = run_json(home, f"now={later:%Y-%m-%dT%H:%M:%SZ}")
    assert ran(home, again)
    assert {p["processor"]: p for p in again["processors"]}["scrape:bettingpros"]["requests"] > 0


def test_a_failed_run_leaves_no_record_and_the_next_run_runs(home, tmp_path):
    empty = tmp_path / "no-cassettes"
    failed = run_json(home, f"http.cassettes={empty}")
    assert failed["exit_code"] == 1 and ran(home, failed)
    assert "inputs" not in json.loads((home / RECORD).read_text())  # only the run's claim
    again = run_json(home)
    assert again["exit_code"] == 0 and ran(home, again)
    assert "inputs" in json.loads((home / RECORD).read_text())  # complete again


def test_another_request_of_the_partition_runs(home):
    again = run_json(home, "only=[odds_api]")
    assert ran(home, again)


def test_a_live_run_in_a_new_snapshot_slot_runs(tmp_path, monkeypatch):
    """Live, a run inside the slot of the record's pass asks nothing, so the record answers; the
    next slot is a new pass (scrape's work), so it does not."""
    from lineflow.config import compose
    from lineflow.pipeline import complete
    from lineflow.pipeline.request import RunRequest

    settings = compose([f"home={tmp_path}", f"date={INCIDENT}", "http.mode=live"])
    for source in settings.sources.values():
        if source.auth.kind != "none" and source.auth.env:
            monkeypatch.setenv(source.auth.env, "a-test-secret-value")
    request = RunRequest.from_settings(settings)
    at = datetime.fromisoformat(f"{INCIDENT}T14:01:00+00:00")
    path = complete.record_path(settings, request.date)
    path.parent.mkdir(parents=True)
    record = {
        "format": complete.FORMAT,
        "run_id": "r1",
        "valid_until": None,
        "inputs": complete._inputs(settings, request, at),
        "results": [],
    }
    path.write_text(json.dumps(record))
    assert complete.check(settings, request, at + timedelta(minutes=13)) is not None
    assert complete.check(settings, request, at + timedelta(minutes=14)) is None  # 14:15 slot
    monkeypatch.delenv(next(s.auth.env for s in settings.sources.values() if s.auth.env))
    assert complete.check(settings, request, at) is None  # the full run names the secret


def test_a_replaced_warehouse_runs(home):
    warehouse = home / "lineflow.duckdb"
    copy = warehouse.with_name("copy.duckdb")
    shutil.copy(warehouse, copy)
    copy.replace(warehouse)  # the same content in another file, as a restore from a backup
    again = run_json(home)
    assert ran(home, again)
