"""Charts people can read: round axis marks, named series, and no empty box for a chart
without data."""

from __future__ import annotations

import re

import pytest

from lineflow.reporting import charts


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        (6268, [0, 2000, 4000, 6000, 8000]),  # 2026-01-23's Odds API rows
        (1282, [0, 500, 1000, 1500]),
        (7, [0, 2, 4, 6, 8]),
        (100, [0, 20, 40, 60, 80, 100]),
        (0.87, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (527735, [0, 200000, 400000, 600000]),
    ],
)
def test_ticks_are_round_numbers_reaching_the_peak(peak, expected):
    ticks = charts.nice_ticks(peak)
    assert ticks == pytest.approx(expected)


@pytest.mark.parametrize("peak", [1, 3, 9, 11, 99, 101, 1234, 6895, 98765, 0.013, 3.3e7])
def test_every_tick_is_one_two_or_five_times_a_power_of_ten(peak):
    ticks = charts.nice_ticks(peak)
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
    assert round(mantissa, 9) in (1, 2, 5)
    assert ticks[0] == 0 and ticks[-1] >= peak and ticks[-2] < peak
    assert 2 <= len(ticks) <= 6


def test_the_axis_shows_the_round_ticks():
    svg = charts.bar_chart("c", "rows", ["01-22", "01-23"], {"odds_api": [0, 6268]})
    assert isinstance(svg, str)
    labels = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', svg)
    assert labels == ["0", "2,000", "4,000", "6,000", "8,000"]


def test_every_series_is_named_in_the_legend():
    svg = charts.bar_chart("c", "rows", ["01-23"], {"odds_api": [5], "bettingpros": [3]})
    assert isinstance(svg, str)
    assert re.findall(r'<text class="legend"[^>]*>([^<]+)</text>', svg) == [
        "odds_api",
        "bettingpros",
    ]


def test_a_chart_without_data_takes_no_slot():
    drawn = charts.bar_chart("chart-rows", "rows", ["01-23"], {"odds_api": [6268]})
    nothing = charts.line_chart(
        "chart-proxy", "proxy success rate", ["01-23"], {"decodo": [None]}, empty="no requests"
    )
    assert isinstance(nothing, charts.NoData)
    html = charts.gallery([drawn, nothing])
    box = re.search(r'<div class="charts">(.*?)</div>', html, re.S)
    assert box is not None
    assert box[1].count("<svg") == 1 and 'id="chart-proxy"' not in html
    assert html.endswith(
        '<p class="chart-note" id="chart-proxy-note">proxy success rate: no requests</p>'
    )
