"""Inline SVG charts for the HTML report: no script, no network, opens from a file.

Pure functions from numbers to SVG text. Every mark carries data-* attributes naming what it
shows, so a test (or a curious reader of the source) can check the figures. The value axis is
marked at round numbers (`nice_ticks`: 0, 2,000, 4,000, ...), every series is named in a
legend, and a chart with nothing to draw is no chart at all: `NoData`, which `gallery` shows as
one line under the charts instead of an empty box taking a chart's place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: One colour per series, distinct in print and for common colour blindness (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 48


@dataclass(frozen=True)
class NoData:
    """A chart with nothing to draw: its title and why, shown as one line, not a box."""

    chart_id: str
    title: str
    reason: str

    def html(self) -> str:
        return (
            f'<p class="chart-note" id="{escape(self.chart_id)}-note">'
            f"{escape(self.title)}: {escape(self.reason)}</p>"
        )


def gallery(items: Sequence[str | NoData]) -> str:
    """The charts side by side, then one line per chart that had nothing to draw."""
    drawn = "".join(item for item in items if isinstance(item, str))
    notes = "".join(item.html() for item in items if isinstance(item, NoData))
    return f'<div class="charts">{drawn}</div>{notes}'


def nice_ticks(peak: float, most: int = 5) -> list[float]:
    """Axis marks from 0 at a round step (1, 2 or 5 times a power of ten) reaching `peak`,
    at most `most` steps: 6,268 gives 0, 2,000, 4,000, 6,000, 8,000."""
    if peak <= 0 or not math.isfinite(peak):
        return [0.0, 1.0]
    magnitude = 10.0 ** math.floor(math.log10(peak / most))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude * most >= peak)
    count = math.ceil(peak / step - 1e-9)
    return [round(i * step, 12) for i in range(count + 1)]


def _frame(chart_id: str, title: str, body: str, legend: str = "") -> str:
    return (
        f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}">'
        f"<title>{escape(title)}</title>"
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="600">{escape(title)}</text>'
        f"{body}{legend}</svg>"
    )


def _axes(labels: Sequence[str], ticks: Sequence[float], fmt: Callable[[float], str]) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    top = ticks[-1]
    parts = []
    for value in ticks:
        y = HEIGHT - BOTTOM - plot_h * value / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end" data-value="{value:g}">{escape(fmt(value))}</text>'
        )
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        x = LEFT + slot * (i + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return "".join(parts)


def _legend(names: Sequence[str]) -> str:
    parts = []
    x = float(LEFT)
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.0f}" y="{HEIGHT - 18}" width="12" height="12" fill="{colour}"/>'
            f'<text class="legend" x="{x + 16:.0f}" y="{HEIGHT - 8}" font-size="11">'
            f"{escape(name)}</text>"
        )
        x += 16 + 6.5 * len(name) + 24  # the name's width at 11 px, then a gap
    return "".join(parts)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    fmt: Callable[[float], str] = _count,
    ticks: Sequence[float] | None = None,
    empty: str = "no data",
) -> str | NoData:
    """Grouped bars: one group per label, one bar per series (NoData: no label or series)."""
    if not labels or not series:
        return NoData(chart_id, title, empty)
    peak = max((v for values in series.values() for v in values), default=0)
    ticks = list(ticks) if ticks is not None else nice_ticks(peak)
    top = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / len(labels)
    bar_w = slot * 0.8 / len(series)
    bars = []
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        for i, value in enumerate(values):
            h = plot_h * min(value / top, 1.0)
            x = LEFT + slot * i + slot * 0.1 + bar_w * s
            y = HEIGHT - BOTTOM - h
            bars.append(
                f'<rect class="bar" data-series="{escape(name)}" data-label="{escape(labels[i])}" '
                f'data-value="{value:g}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} {escape(labels[i])}: '
                f"{escape(fmt(value))}</title></rect>"
            )
    return _frame(chart_id, title, _axes(labels, ticks, fmt) + "".join(bars), _legend(list(series)))


#: Ticks of a share axis: 0 %, 25 %, ... 100 %.
QUARTERS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _percent(value: float) -> str:
    return f"{value:.0%}"


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    fmt: Callable[[float], str] = _percent,
    ticks: Sequence[float] = QUARTERS,
    empty: str = "no data",
) -> str | NoData:
    """One polyline per series over the labels; None leaves a gap (no data that day). NoData
    when no series has a value on any day."""
    if not any(v is not None for values in series.values() for v in values):
        return NoData(chart_id, title, empty)
    top = ticks[-1]
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    marks = []
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = []
        for i, value in enumerate(values):
            if value is None:
                continue
            x = LEFT + slot * (i + 0.5)
            y = HEIGHT - BOTTOM - plot_h * (value / top)
            points.append(f"{x:.1f},{y:.1f}")
            marks.append(
                f'<circle class="point" data-series="{escape(name)}" '
                f'data-label="{escape(labels[i])}" data-value="{value:g}" cx="{x:.1f}" '
                f'cy="{y:.1f}" r="4" fill="{colour}"/>'
            )
        if len(points) > 1:
            marks.insert(
                0,
                f'<polyline fill="none" stroke="{colour}" stroke-width="3" '
                f'points="{" ".join(points)}"/>',
            )
    return _frame(
        chart_id, title, _axes(labels, ticks, fmt) + "".join(marks), _legend(list(series))
    )
