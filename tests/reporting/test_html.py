"""The HTML report opens from a file in headless Chromium, with its charts drawn."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lineflow.reporting.charts import PALETTE
from tests.conftest import run_cli

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; "
    ".ci/run installs it)",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


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
    for chart in ("chart-rows", "chart-phases", "chart-proxy"):
        assert f'id="{chart}"' in dom
    bars = re.findall(
        r'class="bar" data-series="([^"]+)" data-label="([^"]+)" data-value="([^"]+)"', dom
    )
    values = {(series, label): float(value) for series, label, value in bars}
    assert values[("odds_api", "01-23")] == 6268
    assert values[("bettingpros", "01-19")] == 1282
    assert values[("bettingpros", "01-23")] == 0
    assert values[("draftkings", "01-23")] == 564
    # 9 processors configured (3 scrapers, 3 processors, validate, consolidate, predict); the
    # BettingPros scraper was blocked.
    assert values[("processors succeeded", "01-23")] == pytest.approx(8 / 9)
    assert "proxy health not recorded yet" in dom


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
