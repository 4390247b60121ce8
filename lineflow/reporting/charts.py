"""Inline SVG charts for the HTML report: no script, no network, opens from a file.

Pure functions from numbers to SVG text. Every mark carries data-* attributes naming what it
shows, so a test (or a curious reader of the source) can check the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

#: One colour per series, distinct in print and for common colour blindness (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 48


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


def empty_chart(chart_id: str, title: str, message: str) -> str:
    """A chart box saying why there is nothing to draw (e.g. "not recorded yet")."""
    body = (
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        f'font-size="14" fill="#666">{escape(message)}</text>'
    )
    return _frame(chart_id, title, body)


def _axes(labels: Sequence[str], top: float, fmt: Callable[[float], str]) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end">{escape(fmt(value))}</text>'
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
    for i, name in enumerate(names):
        x = LEFT + i * 150
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 18}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 8}" font-size="11">{escape(name)}</text>'
        )
    return "".join(parts)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    top: float | None = None,
) -> str:
    """Grouped bars: one group per label, one bar per series."""
    peak = max((v for values in series.values() for v in values), default=0)
    top = top if top is not None else (peak * 1.1 or 1.0)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    bars = []
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        for i, value in enumerate(values):
            h = plot_h * (value / top) if top else 0
            x = LEFT + slot * i + slot * 0.1 + bar_w * s
            y = HEIGHT - BOTTOM - h
            bars.append(
                f'<rect class="bar" data-series="{escape(name)}" data-label="{escape(labels[i])}" '
                f'data-value="{value:g}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} {escape(labels[i])}: '
                f"{escape(fmt(value))}</title></rect>"
            )
    return _frame(chart_id, title, _axes(labels, top, fmt) + "".join(bars), _legend(list(series)))


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    fmt: Callable[[float], str] = lambda v: f"{v:.0%}",
    top: float = 1.0,
) -> str:
    """One polyline per series over the labels; None leaves a gap (no data that day)."""
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
    return _frame(chart_id, title, _axes(labels, top, fmt) + "".join(marks), _legend(list(series)))
