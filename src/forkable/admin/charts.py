"""Bar charts as plain geometry, drawn by the templates as inline SVG.

The CSP forbids inline scripts and `style=` attributes, not SVG presentation attributes, so
a chart is a few `<rect>`s with `x`, `y`, `width`, `height` and a CSS class for its color.
Stacked series share a bar (images that worked, with the failures on top).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 520
HEIGHT = 200
_LEFT = 56  # room for the value labels
_RIGHT = 8
_TOP = 12
_BOTTOM = 26  # room for the date labels
_GAP = 0.25  # share of each day's slot left empty between bars


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    values: Sequence[float]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str  # shown as the bar's tooltip and read by screen readers


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    series: list[Series]
    rects: list[Rect]
    ticks: list[Tick]
    day_labels: list[DayLabel]
    total: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = _LEFT
    baseline: float = HEIGHT - _BOTTOM

    @property
    def right(self) -> int:
        return self.width - _RIGHT

    @property
    def empty(self) -> bool:
        return not self.rects


def nice_ceiling(value: float, least: float = 1.0) -> float:
    """The smallest of 1, 2, 4, 6, 8 x 10^k that is >= ``value`` and ``least``.

    Halves of these are round too, so the middle grid line gets a clean label.
    """
    value = max(value, least)
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if step * power >= value * (1 - 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _short(day: date) -> str:
    return f"{day.strftime('%b')} {day.day}"


def bar_chart(
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    least: float = 2.0,
) -> BarChart:
    """A stacked bar per day; the y axis runs from 0 to a round number above the tallest bar.

    ``least`` is the smallest top of the axis: 2 keeps count charts on whole numbers.
    """
    count = max(len(days), 1)
    stacks = [sum(s.values[i] for s in series) for i in range(len(days))]
    top = nice_ceiling(max(stacks, default=0.0), least)
    plot_height = HEIGHT - _TOP - _BOTTOM
    slot = (WIDTH - _LEFT - _RIGHT) / count
    bar_width = round(slot * (1 - _GAP), 2)
    baseline = HEIGHT - _BOTTOM
    rects: list[Rect] = []
    for index, day in enumerate(days):
        x = round(_LEFT + index * slot + slot * _GAP / 2, 2)
        y = float(baseline)
        for one in series:
            value = one.values[index]
            if value <= 0:
                continue
            height = max(round(value / top * plot_height, 2), 1.0)  # a sliver stays visible
            y = round(y - height, 2)
            rects.append(
                Rect(
                    x,
                    y,
                    bar_width,
                    height,
                    one.css_class,
                    f"{_short(day)}: {fmt(value)} {one.name}",
                )
            )
    ticks = [
        Tick(round(baseline - plot_height * share, 2), fmt(top * share)) for share in (0, 0.5, 1)
    ]
    # Label the first day, the last, and every seventh in between: readable at any width.
    labels = [
        DayLabel(round(_LEFT + (i + 0.5) * slot, 2), _short(day))
        for i, day in enumerate(days)
        if i % 7 == 0 or i == len(days) - 1
    ]
    if len(labels) >= 2 and labels[-1].x - labels[-2].x < slot * 4:
        del labels[-2]  # the last regular label would collide with today's
    total = fmt(sum(stacks))
    return BarChart(chart_id, title, list(series), rects, ticks, labels, total)
