"""The published benchmark results name no path of the machine that measured them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import parts
from bench.measure import ROOT
from bench.report import chart_panels, public


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_paths_are_written_relative_to_the_checkout_or_the_out_folder(tmp_path: Path) -> None:
    results = {
        "season": {"landing": str(ROOT / "bench" / "out" / "season" / "landing"), "passes": 2},
        "memory": {"homes": [str(tmp_path / "homes" / "season")], "_scratch": str(tmp_path)},
        "fetch": {"route": "/v4/sports/basketball_nba/events"},  # not a file: kept as it is
        "ratio": 1.23456789,
    }
    assert public(results, tmp_path) == {
        "season": {"landing": "bench/out/season/landing", "passes": 2},
        "memory": {"homes": ["<out>/homes/season"]},
        "fetch": {"route": "/v4/sports/basketball_nba/events"},
        "ratio": 1.234568,
    }


def test_the_committed_results_hold_no_absolute_path() -> None:
    published = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    assert [s for s in strings(published) if s.startswith("/")] == []
    landing = published["season"]["landing"]  # under the run's --out, inside the checkout
    assert landing.startswith("bench/out/") and landing.endswith("/season/landing")


def test_the_chart_draws_a_panel_per_part_that_ran() -> None:
    """`--parts throughput` alone drew an empty memory panel beside the processing one."""
    throughput = {"canonical_rows": 10, "lineflow": {"rows_per_second": 5.0}}
    memory = {"points": [{"dates": 1, "peak_rss_bytes": 1}]}
    assert chart_panels({"throughput": throughput}) == ["throughput"]
    assert chart_panels({"memory": memory}) == ["memory"]
    assert chart_panels({"throughput": throughput, "memory": memory}) == ["throughput", "memory"]
    assert chart_panels({"throughput": None, "memory": {}}) == []


def test_a_season_is_generated_into_an_out_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    """The disk check asked a folder that was not there yet (only `python -m bench` made it)."""
    out = tmp_path / "not" / "yet"
    season = parts.season(out, 1, 1, 1, False)
    assert season["total_files"] > 0 and not season["reused"]
    assert Path(season["landing"]).is_relative_to(out)
