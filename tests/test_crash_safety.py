"""SIGKILL at named points of every stage, then a rerun: the tables of an uninterrupted run.

`LINEFLOW_KILL_AT=NAME[:N]` makes lineflow kill itself with SIGKILL the N-th time it passes NAME
(lineflow/core/faults.py). Each case kills a real `lineflow run`, runs it again, and compares every
table with a clean run's, leaving out only what names the run (run ids, processing times).
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lineflow.core.faults import KILL_POINTS
from tests.conftest import INCIDENT, query, run_cli, table_checksum

RUN = ("run", f"date={INCIDENT}", "only=[odds_api]")

#: Run-independent views of every table a run writes.
TABLES = {
    "prop_lines": "(SELECT * EXCLUDE (run_id) FROM prop_lines)",
    "stg_prop_lines": "(SELECT * EXCLUDE (run_id) FROM stg_prop_lines)",
    "landed_files": "(SELECT * EXCLUDE (run_id) FROM landed_files)",
    "processed_files": "(SELECT * EXCLUDE (run_id, processed_at) FROM processed_files)",
    "consolidations": "(SELECT * EXCLUDE (run_id, consolidated_at) FROM consolidations)",
}

#: Kill points in pipeline order, in chains: each run of a chain is killed at its point and the
#: next run resumes from what the killed one left (N = the N-th pass of that run), then a last
#: run completes. Chains keep the number of processes (and the suite's time) down while every
#: point is killed at least once, several of them in the middle of a loop.
CHAINS = {
    "scrape": [
        "after_lock_acquire",  # scrape holds its lock, nothing done yet
        "after_response",  # responses in memory, nothing landed
        "after_landing_write:5",  # 4 files with manifest rows, the 5th on disk without one
        "after_manifest_write:5",  # mid-scrape, right after a manifest row
    ],
    "process": [
        "before_stage_file:4",  # 3 files staged, the 4th parsed but not written
        "after_stage_file:3",  # 3 more staged, killed right after a commit
        "before_lock_release:2",  # process finished and recorded, its lock still held
    ],
    "consolidate": [
        "mid_consolidate",  # inside the consolidation transaction, partition deleted
        "after_consolidate",  # committed, no run history yet
        "before_lock_release:3",  # consolidate recorded, its lock still held
    ],
}


def checksums(home: Path) -> dict[str, tuple[int, str]]:
    return {name: table_checksum(home, view) for name, view in TABLES.items()}


def run_chain(points: list[str], home: Path) -> dict[str, object]:
    steps = []
    for point in points:
        killed = run_cli(*RUN, f"home={home}", env={"LINEFLOW_KILL_AT": point})
        exists = (home / "lineflow.duckdb").exists()
        props = query(home, "SELECT count(*) FROM prop_lines")[0][0] if exists else None
        steps.append((point, killed, props))
    return {"steps": steps, "rerun": run_cli(*RUN, f"home={home}")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    clean = base / "clean"
    homes = {name: base / name for name in CHAINS}
    with ThreadPoolExecutor(4) as pool:
        clean_run = pool.submit(run_cli, *RUN, f"home={clean}")
        chains = pool.map(run_chain, CHAINS.values(), homes.values())
        results = dict(zip(CHAINS, chains, strict=True))
    assert clean_run.result().code == 0, clean_run.result().stderr
    return clean, homes, results


def test_every_kill_point_is_exercised():
    killed = {p.partition(":")[0] for points in CHAINS.values() for p in points}
    assert killed == set(KILL_POINTS)


@pytest.mark.parametrize("chain", CHAINS)
def test_runs_killed_at_each_point_then_rerun_leave_the_tables_of_a_clean_run(runs, chain):
    clean, homes, results = runs
    for point, killed, _props in results[chain]["steps"]:
        assert killed.code == -signal.SIGKILL, f"{point} was not reached: {killed.stderr}"
    rerun = results[chain]["rerun"]
    assert rerun.code == 0, rerun.stderr
    assert checksums(homes[chain]) == checksums(clean)
    dupes = query(
        homes[chain],
        "SELECT count(*) FROM (SELECT slate_date, source, event_id, bookmaker, market, "
        "player_key, side, line, snapshot_at FROM prop_lines GROUP BY ALL HAVING count(*) > 1)",
    )
    assert dupes == [(0,)]


def test_a_consolidation_killed_midway_leaves_no_partial_partition(runs):
    clean, _homes, results = runs
    point, _killed, props = results["consolidate"]["steps"][0]
    assert point == "mid_consolidate"
    ((full,),) = query(clean, "SELECT count(*) FROM prop_lines")
    assert props in (0, full), "readers see the old partition or the new one, never a mix"
    assert props == 0  # this was the first consolidation: the old partition is empty


def test_a_killed_runs_lock_is_taken_over_by_the_next_run_and_logged(runs):
    _clean, _homes, results = runs
    _point, next_run, _props = results["scrape"]["steps"][1]
    assert "lock nba_props:scrape:2026-01-23 taken over from host" in next_run.stderr
    assert "is gone" in next_run.stderr
