"""`lineflow run -m date=a,b`: Hydra multirun, partitions as parallel jobs."""

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


def test_a_bad_partition_in_the_sweep_fails_the_sweep(tmp_path):
    result = run_cli("run", "-m", "date=2026-01-19,2026-02-30", f"home={tmp_path}")
    assert result.code == 2
    assert "date: '2026-02-30' is not a calendar date" in result.stdout + result.stderr
