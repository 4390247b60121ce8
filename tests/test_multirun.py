"""`lineflow run -m date=a,b`: Hydra multirun, partitions as parallel jobs."""

import pytest

from tests.conftest import query, run_cli


def test_each_partition_runs_as_its_own_job(tmp_path):
    home = tmp_path / "home"
    result = run_cli("run", "-m", "date=2026-01-19,2026-01-20", f"home={home}")
    assert result.code == 0, result.stdout + result.stderr
    assert "UserWarning" not in result.stderr
    per_day = query(
        home, "SELECT slate_date::VARCHAR, count(*) > 0 FROM prop_lines GROUP BY 1 ORDER BY 1"
    )
    assert per_day == [("2026-01-19", True), ("2026-01-20", True)]
    runs = query(home, "SELECT count(DISTINCT run_id) FROM run_history")
    assert runs == [(2,)]
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()
    # one combined summary, not one per job
    assert result.stdout.count("lineflow run -m · 2 partitions") == 1
    assert "lineflow run 2026" not in result.stdout  # no per-run table
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ 2026-01-")]
    assert [row.split("│")[1:4] for row in rows] == [
        [" 2026-01-19 ", " completed ", "    0 "],
        [" 2026-01-20 ", " completed ", "    0 "],
    ]
    assert "multirun: 2 partitions: 2 completed; exit 0" in result.stdout


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (["date=2026-01-19,2026-13-01"], "date: '2026-13-01' is not a calendar date"),
        (["date=2026-13-01,2026-01-19"], "date: '2026-13-01' is not a calendar date"),
        (["date=2026-01-19", "date=2026-01-20,tomorrow"], "date: expected YYYY-MM-DD"),
        (["date=2026-01-19,2026-01-20", "fix=true"], "fix: unknown key"),
        (["date=2026-01-19,2026-01-20", "only=[nope]"], "only: unknown source 'nope'"),
        (["date=2026-01-19,2026-01-20", "locks.wait_s=1,soon"], "locks.wait_s:"),
        (["date=2026-01-19,2026-01-20", "strict=true,perhaps"], "strict: expected true or false"),
    ],
)
def test_a_bad_key_or_value_stops_the_sweep_before_any_job_runs(tmp_path, sweep, message):
    home = tmp_path / "home"
    result = run_cli("run", *sweep, f"home={home}", "-m")  # -m anywhere on the line
    assert result.code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("lineflow: error: ") and message in result.stderr
    assert not home.exists(), "no job ran, nothing was written"
