"""The dashboard's figures are `lineflow status`'s: for each date, each source's verdict and
rows and each file count are what the command prints with format=json."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lineflow.config import compose
from lineflow.reporting import dashboard
from lineflow.reporting.recorded import open_stores
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def figures(week_home):
    settings = compose([f"home={week_home}"])
    return dashboard.gather(settings, open_stores(settings), datetime.now(UTC))


def test_the_grid_ends_at_the_newest_date_that_ran(figures):
    assert figures["dates"][0] == "2026-01-23" and len(figures["dates"]) == 7
    assert figures["components"] == [
        "odds_api",
        "bettingpros",
        "draftkings",
        "processing",
        "validation",
        "predictions",
    ]
    assert {c["status"] for c in figures["grid"]["2026-01-17"].values()} == {"not run"}


@pytest.mark.parametrize("day", ["2026-01-23", "2026-01-19"])
def test_each_cell_agrees_with_lineflow_status(week_home, figures, day):
    result = run_cli("status", f"date={day}", f"home={week_home}", "format=json")
    assert result.code == 0, result.stderr
    status = json.loads(result.stdout)
    cells = figures["grid"][day]
    for component in status["components"]:
        name = component["name"]
        if name.endswith(" props"):
            cell = cells[name.removesuffix(" props")]
            assert (cell["status"], cell["figures"]["rows"], cell["figures"]["expected rows"]) == (
                component["status"],
                component["actual"],
                component["expected"],
            )
        elif name == "predictions main":
            cell = cells["predictions"]
            assert (cell["status"], cell["figures"]["player markets predicted"]) == (
                component["status"],
                component["actual"],
            )
    for files in status["files"]:
        cell = cells[files["source"]]["figures"]
        assert (cell["files landed"], cell["files processed"], cell["files failed"]) == (
            files["landed"],
            files["processed"],
            files["failed"],
        )
    assert cells["processing"]["figures"]["files processed"] == sum(
        f["processed"] for f in status["files"]
    )
    quality = status["line_quality"]
    assert cells["validation"]["figures"]["player markets excluded"] == quality["failed"]
