"""The HTML report opens from a file in headless Chromium, with its charts drawn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lineflow.reporting.charts import PALETTE
from tests.browser import chromium, needs_chromium
from tests.conftest import run_cli

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def report(week_home, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "health.html"
    result = run_cli("health", "date=2026-01-23", f"home={week_home}", "format=html", f"out={out}")
    assert result.code == 0, result.stderr
    return out


def test_is_self_contained(report):
    html = report.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "nothing is fetched"
    assert "<script" not in html


def test_dom_holds_the_charts_with_the_warehouse_figures(report, tmp_path):
    dom = chromium(tmp_path / "profile", "--dump-dom", report.as_uri()).stdout
    for chart in ("chart-rows", "chart-phases"):
        assert f'id="{chart}"' in dom
    # no proxy was used: the proxy chart is one line, not an empty box taking a chart's place
    assert '<svg id="chart-proxy"' not in dom
    bars = re.findall(
        r'class="bar" data-series="([^"]+)" data-label="([^"]+)" data-value="([^"]+)"', dom
    )
    values = {(series, label): float(value) for series, label, value in bars}
    assert values[("odds_api", "01-23")] == 6268
    assert values[("bettingpros", "01-19")] == 1282
    assert values[("bettingpros", "01-23")] == 0
    # 7 processors configured (2 scrapers, 2 processors, validate, consolidate, predict); the
    # BettingPros scraper was blocked.
    assert values[("processors succeeded", "01-23")] == pytest.approx(6 / 7)
    assert "proxy success rate: proxy health not recorded yet" in dom
    ticks = re.findall(r'class="tick"[^>]*data-value="([^"]+)"', dom)
    assert ticks[:5] == ["0", "2000", "4000", "6000", "8000"]  # rows: round numbers


def colour_pixels(png: Path, hex_colour: str) -> int:
    from PIL import Image

    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(png).convert("RGB")
    return sum(count for count, colour in image.getcolors(maxcolors=1 << 24) if colour == rgb)


def test_screenshot_shows_the_bars(report, tmp_path):
    png = tmp_path / "shot.png"
    chromium(
        tmp_path / "profile", "--window-size=1400,1400", f"--screenshot={png}", report.as_uri()
    )
    # Each series colour appears only in its chart's bars and legend swatch (12x12 px): bars
    # drawn means far more pixels than a swatch.
    assert colour_pixels(png, PALETTE[0]) > 5000  # odds_api rows and phase completion
    assert colour_pixels(png, PALETTE[1]) > 2000  # bettingpros rows, four short bars
