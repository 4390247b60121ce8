"""The benchmark entry point runs end to end on a tiny season and writes its results file.

No timing is asserted here (speed belongs in bench/): only that every part ran, produced the
figures docs/benchmarks.md is built from, and that a rerun asked the provider nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_every_part_on_a_tiny_season(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--dates",
            "2",
            "--games",
            "1",
            "--passes",
            "1",
            "--fetch-dates",
            "1",
            "--backfill-dates",
            "2",
            "--latency-ms",
            "0",
            "--startup-runs",
            "1",
            "--repeats",
            "2",
            "--seasons-dates",
            "3",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())

    assert {
        "machine",
        "config",
        "season",
        "throughput",
        "fetch",
        "backfill",
        "rerun",
        "memory",
        "seasons",
        "startup",
        "declarative",
        "targets",
    } <= set(results)
    assert results["machine"]["nproc"] >= 1 and results["machine"]["versions"]["duckdb"]
    assert len(results["season"]["dates"]) == 2 and results["season"]["games"] == 2

    throughput = results["throughput"]
    assert throughput["canonical_rows"] > 0
    for tool in ("lineflow", "floor"):
        assert throughput[tool]["seconds"] > 0 and throughput[tool]["rows_per_second"] > 0
        assert throughput[tool]["peak_rss_bytes"] > 0
    assert sum(throughput["floor"]["tables"].values()) > 0
    # Two interleaved pairs, every run kept; the headline is the median of the pair ratios.
    assert len(throughput["lineflow"]["runs"]) == len(throughput["floor"]["runs"]) == 2
    pairs = throughput["pairs"]
    assert [p["lineflow_seconds"] for p in pairs] == [
        r["seconds"] for r in throughput["lineflow"]["runs"]
    ]
    ratios = sorted(p["lineflow_seconds"] / p["floor_seconds"] for p in pairs)
    assert throughput["lineflow_over_floor"] == pytest.approx(sum(ratios) / 2, rel=1e-4)
    assert throughput["lineflow_over_floor_range"] == pytest.approx(ratios, rel=1e-4)
    if importlib.util.find_spec("dlt") is None:
        assert "not installed" in throughput["dlt"]["skipped"]
    else:
        assert throughput["dlt"]["seconds"] > 0 and throughput["dlt_over_lineflow"] > 0

    fetch = results["fetch"]
    # No latency is injected here: the bound is the configured rate limits alone.
    assert fetch["requests"] > 0 and fetch["bound_seconds"] > 0
    backfill = results["backfill"]
    assert len(backfill["dates"]) == 2 and backfill["complete"] == backfill["partitions"] == 2
    # What the stand-in saw is what the manifest counted; the bound is the rate limit's here.
    assert backfill["requests"] == backfill["requests_by_manifest"] > 0
    assert backfill["sources"]["odds_api"]["requests"] == backfill["requests"]
    assert backfill["bound_seconds"] > 0 and backfill["wall_seconds"] > 0
    assert backfill["wall_over_bound"] > 0 and backfill["fetch_busy_seconds"] > 0
    assert backfill["again"]["requests"] == 0 and backfill["again"]["skipped_all"]
    rerun = results["rerun"]
    assert rerun["partition"]["first_requests"] > 0
    assert rerun["partition"]["requests"] == 0 and rerun["range"]["requests"] == 0
    assert rerun["partition"]["rows_equal"] and rerun["range"]["rows_equal"]
    assert [p["dates"] for p in results["memory"]["points"]] == [1, 2]
    assert set(results["startup"]) == {"help", "run_help", "complete", "demo", "status"}
    # Whole processes against the import floor, pair by pair.
    for quick in ("complete", "demo", "status"):
        measured = results["startup"][quick]
        assert measured["over_floor"] > 0 and measured["cpu_over_floor"] > 0
        low, high = measured["over_floor_range"]
        assert low <= measured["over_floor"] <= high
    seasons = results["seasons"]
    # Three dates against the first one: the same landing, each size its own fresh warehouse.
    assert [p["dates"] for p in seasons["points"]] == [1, 1, 3]
    assert 0 < seasons["points"][0]["rows"] < seasons["points"][2]["rows"]
    assert len(seasons["runs"]) == 2 and seasons["per_row_ratio"] > 0
    assert seasons["memory_growth"] > 0 and seasons["total_files"] > 0
    declarative = results["declarative"]
    # The same files, the same rows, whichever form parses them; no timing asserted.
    assert declarative["odds_api_module"]["rows"] == declarative["odds_api_declared"]["rows"] > 0
    assert declarative["declared_over_module"] > 0
    assert declarative["draftkings_declared"]["rows"] > 0
    assert {t["target"] for t in results["targets"]} >= {
        "processing vs floor",
        "processing vs dlt",
        "rerun of a partition",
        "backfill of 2 dates vs bound",
        "`lineflow --help`",
        "`lineflow run --help`",
        "declarative parser vs module",
    }
    # Round two's table has every row of issue #23's, measured or saying it was not.
    two = {t["target"]: t for t in results["targets"] if t.get("issue") == 23}
    assert len(two) == 9
    assert two["season processing vs the DuckDB `read_json` floor"]["value"] == pytest.approx(
        throughput["lineflow_over_floor"]
    )
    assert two["three seasons: time per row, 3 dates vs 1"]["value"] == pytest.approx(
        seasons["per_row_ratio"]
    )
    assert two["predict, per partition, in the backfill"]["value"] > 0
    for name, key in (
        ("the offline demo on a fresh home vs the import floor", "demo"),
        ("`lineflow run` on a complete partition vs the import floor", "complete"),
        ("`lineflow status` vs the import floor", "status"),
    ):
        assert two[name]["value"] == pytest.approx(results["startup"][key]["over_floor"])
    markdown = (out / "results.md").read_text()
    assert "| target | wanted | measured |" in markdown and "**2b. Backfill**" in markdown
    assert "**Targets, round two (issue #23)**" in markdown and "**4b. Three seasons**" in markdown
    assert "--repeats 2" in markdown and "median of the pair ratios" in markdown
    if importlib.util.find_spec("matplotlib") is not None:  # the `bench` extra draws the chart
        assert (out / "chart.png").stat().st_size > 0


def test_a_part_with_nothing_to_compare_reports_n_a(tmp_path: Path) -> None:
    """`--fetch-dates 0`: the rerun of a partition and of the range have no first run to
    compare with; the report says "n/a" for them instead of dividing by zero."""
    out = tmp_path / "bench"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--dates", "2", "--games", "1", "--passes", "1"),
            *("--fetch-dates", "0", "--latency-ms", "0", "--parts", "throughput,fetch,rerun"),
            *("--no-dlt", "--out", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = json.loads((out / "results.json").read_text())["rerun"]
    assert rerun["partition"]["ratio"] is None and rerun["range"]["ratio"] is None
    assert rerun["season_processing"]["ratio"] > 0
    report = (out / "results.md").read_text()
    assert (
        "| rerun of a partition | <= 2 % of the first run, 0 requests | n/a, 0 requests |" in report
    )


def test_bad_sizes_are_one_line_errors(tmp_path: Path) -> None:
    """--seasons-dates not a multiple of 3, --repeats 0, and a season the disk cannot hold:
    exit 2, one line saying why, nothing generated."""
    out = tmp_path / "bench"
    for flags, said in (
        (["--seasons-dates", "4"], "--seasons-dates: a multiple of 3, got 4"),
        (["--repeats", "0"], "--repeats: at least 1, got 0"),
        (["--seasons-dates", "3000000", "--parts", "seasons"], "GB free"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "bench", *flags, "--no-dlt", "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert said in done.stderr and "Traceback" not in done.stderr
        assert not (out / "seasons").exists()


def test_the_scaling_part_leaves_the_same_rows_with_every_engine_and_worker_count(
    tmp_path: Path,
) -> None:
    """`--parts scaling` on a tiny season, 1 and 2 workers: the embedded and the shared engines
    (a real Postgres and a real local Ray cluster, started by the part) leave the same lines in
    every run, and the figures docs/benchmarks.md's model is built from are there."""
    from tests.support.postgres import binaries

    if binaries() is None:
        pytest.skip("Postgres binaries not found (apt-get install postgresql): the part needs one")
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install -e '.[test]')")
    out = tmp_path / "bench"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--parts", "scaling", "--workers", "1,2"),
            *("--dates", "2", "--games", "1", "--passes", "1", "--out", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scaling = json.loads((out / "results.json").read_text())["scaling"]
    assert "skipped" not in scaling, scaling.get("skipped")

    runs = scaling["runs"]
    assert [(r["engine"], r["workers"]) for r in runs] == [
        ("embedded", 1),
        ("shared", 1),
        ("embedded", 2),
        ("shared", 2),
    ]
    # What a user reads: the same lines whichever engine and however many workers.
    assert scaling["canonical_rows"] > 0
    assert {(r["canonical_rows"], r["digest"]) for r in [scaling["local"], *runs]} == {
        (scaling["canonical_rows"], runs[0]["digest"])
    }
    for r in runs:
        assert r["span_seconds"] > 0 and r["rows_per_second"] > 0 and r["speedup"] > 0
        assert r["wall_seconds"] >= r["span_seconds"]
    # The same stage runs recorded by every run (each partition's stages, once).
    assert len({r["stage_runs"] for r in [scaling["local"], *runs]}) == 1
    assert set(scaling["shared_over_embedded"]) == {"1", "2"}
    for r in runs[1::2]:
        catalog = r["catalog"]
        # Each partition commits to the lake's staging, validation and consolidation tables.
        assert catalog["commits"] >= 2 * 3 and catalog["commits_per_second"] > 0
        assert {"stg_prop_lines", "consolidated_files"} <= set(catalog["commits_by_table"])
        assert catalog["pg_rollbacks"] >= catalog["commit_retries"] >= 0  # a retry rolls back
    assert [p["writers"] for p in scaling["probe"]] == [1, 2, 4]
    for p in scaling["probe"]:
        assert p["commits"] == p["writers"] * 40 and p["commits_per_second"] > 0
        assert 0 < p["commit_seconds_median"] <= p["commit_seconds_p90"]
    assert scaling["probe"][0]["conflicts"] == scaling["probe"][0]["commit_retries"] == 0
    model = scaling["model"]
    assert model["catalog_partitions_per_second"] > 0
    assert set(model["providers"]) == {"odds_api", "bettingpros"}
    assert model["providers"]["bettingpros"]["per_second"] == 0.5
    report = (out / "results.md").read_text()
    assert "**7. Scaling**" in report and "| shared | 2 |" in report
