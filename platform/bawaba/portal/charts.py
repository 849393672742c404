"""Charts drawn on the server as SVG: no script, no CDN, readable offline and printable.

A chart is one series of labelled points, drawn as bars (few, categorical points such as
years or departments) or as a line with a mark on each point (months, days). The SVG names
itself (``<title>``) and summarises itself (``<desc>``) for screen readers, every mark carries
its own label and value, and the page shows the same figures as a table beside it.

On a right-to-left page the chart is mirrored: the first point sits on the right and the
value axis on the right edge, as an Arabic reader scans.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

Kind = Literal["bar", "line"]
"""bar: one bar per point; line: a line through the points, with a mark on each."""

WIDTH = 720
HEIGHT = 300
_TOP = 16
_BOTTOM = 44
_AXIS = 72  # room for the value labels, on the left (ltr) or the right (rtl)
_EDGE = 16
_MAX_X_LABELS = 12


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None
    """None for a withheld or missing value: no mark is drawn."""


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` intervals."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10 * power  # pragma: no cover - the loop ends at 10, which always fits


def value_ticks(values: Sequence[float]) -> list[float]:
    """Ticks from zero (or the lowest value, when negative) past the highest value."""
    low = min(0.0, *values)
    high = max(0.0, *values)
    step = nice_step(high - low)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - 1e-9 * step:
        ticks.append(ticks[-1] + step)
    if len(ticks) == 1:
        ticks.append(start + step)
    return ticks


def _f(number: float) -> str:
    return f"{number:.1f}"


def render(
    points: Sequence[Point],
    *,
    kind: Kind,
    title: str,
    description: str,
    chart_id: str,
    rtl: bool = False,
    format_value: Callable[[float], str] = str,
) -> Markup:
    """The chart as an inline ``<svg>`` element."""
    values = [p.value for p in points if p.value is not None]
    ticks = value_ticks(values or [0.0])
    low, high = ticks[0], ticks[-1]
    left = _EDGE if rtl else _AXIS
    right = WIDTH - (_AXIS if rtl else _EDGE)
    top, bottom = _TOP, HEIGHT - _BOTTOM
    plot_width = right - left

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    def mirrored(x: float) -> float:
        return left + right - x if rtl else x

    n = len(points)
    band = plot_width / max(n, 1)

    def x_of(index: int) -> float:
        if kind == "bar" or n == 1:
            return mirrored(left + band * (index + 0.5))
        return mirrored(left + plot_width * index / (n - 1))

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g class="grid" aria-hidden="true">',
    ]
    axis_x = right + 8 if rtl else left - 8
    anchor = "start" if rtl else "end"
    for tick in ticks:
        tick_y = _f(y_of(tick))
        parts.append(f'<line x1="{left}" x2="{right}" y1="{tick_y}" y2="{tick_y}"/>')
        parts.append(
            f'<text x="{axis_x}" y="{tick_y}" text-anchor="{anchor}" dominant-baseline="middle">'
            f"{escape(format_value(tick))}</text>"
        )
    parts.append("</g>")

    every = max(1, math.ceil(n / _MAX_X_LABELS))
    parts.append('<g class="axis" aria-hidden="true">')
    for index, point in enumerate(points):
        if index % every == 0 or (index == n - 1 and kind == "bar"):
            parts.append(
                f'<text x="{_f(x_of(index))}" y="{bottom + 20}" text-anchor="middle">'
                f"{escape(point.label)}</text>"
            )
    parts.append("</g>")

    zero = y_of(max(low, 0.0))
    parts.append('<g class="marks">')
    if kind == "line":
        path: list[str] = []
        pen_down = False
        for index, point in enumerate(points):
            if point.value is None:
                pen_down = False  # a gap in the line where a value is withheld
                continue
            path.append(f"{'L' if pen_down else 'M'}{_f(x_of(index))},{_f(y_of(point.value))}")
            pen_down = True
        if path:
            parts.append(f'<path class="line" d="{" ".join(path)}"/>')
    for index, point in enumerate(points):
        if point.value is None:
            continue
        label = escape(f"{point.label}: {format_value(point.value)}")
        x, y = x_of(index), y_of(point.value)
        if kind == "bar":
            width = max(band * 0.7, 1.0)
            parts.append(
                f'<rect class="mark" x="{_f(x - width / 2)}" y="{_f(min(y, zero))}" '
                f'width="{_f(width)}" height="{_f(max(abs(zero - y), 0.5))}">'
                f"<title>{label}</title></rect>"
            )
        else:
            parts.append(
                f'<circle class="mark" cx="{_f(x)}" cy="{_f(y)}" r="3.5">'
                f"<title>{label}</title></circle>"
            )
    parts.append("</g>")
    parts.append(
        f'<line class="baseline" x1="{left}" x2="{right}" y1="{_f(zero)}" y2="{_f(zero)}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()
