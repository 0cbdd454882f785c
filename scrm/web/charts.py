"""Charts for the console, drawn by the server as inline SVG (no script).

Most are groups of bars (a day, a variant) × series (scans, issued, sent, …) on one scale from
0 to the largest value: :func:`grouped_bars`. A trend over days is lines, one per series (this
period, the one before): :func:`trend_lines`. The geometry is computed once here; the ``bars``
and ``lines`` macros in ``scrm/templates/_charts.html`` only place it, and the page's
stylesheet colours each series by its key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Room around the plot, in SVG units: the scale's numbers on the left, the group labels below,
# and the unit above the scale when there is one.
LEFT, RIGHT, TOP, TOP_WITH_UNIT, BOTTOM = 32, 6, 12, 26, 22
BAR_SHARE = 0.8  # of a group's slot the bars take; the rest is the gap between groups


@dataclass(frozen=True)
class Series:
    key: str  # the CSS class that colours its bars and its legend mark
    label: str  # as the legend and each bar's tooltip name it: "扫码 scans"


@dataclass(frozen=True)
class Group:
    key: str  # what the group is, for the page: "2026-11-02", "A"
    label: str  # as people read it under the axis and in each bar's tooltip: "11-02", "A"
    values: tuple[int, ...]  # one per series, in the series' order


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    label: str  # "11-02 扫码 scans: 2"


@dataclass(frozen=True)
class BarGroup:
    key: str
    bars: tuple[Bar, ...]  # bars of zero are left out


@dataclass(frozen=True)
class Tick:
    x: float
    text: str
    anchor: str  # SVG text-anchor: the last day's label ends at the right edge instead of overflowing it


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    baseline: float
    top_y: float
    top: int  # the value at the top of the scale
    kind: str  # what a group is ("day", "variant"): its <g> element's class and data attribute
    unit: str  # written above the scale, "张 coupons"; "" for none
    groups: tuple[BarGroup, ...]  # only groups with something to draw
    ticks: tuple[Tick, ...]
    series: tuple[Series, ...]  # the legend


def grouped_bars(groups: Sequence[Group], series: Sequence[Series], *, kind: str, label_every: int = 1,
                 unit: str = "", width: int = 420, height: int = 170) -> Chart:
    """One slot per group, one bar per series in it, on one scale from 0 to the largest value.

    ``label_every=1`` labels every group under its middle (a few variants); a larger step
    labels the last group and every ``label_every``-th before it, counted back so the last
    (today) is always labelled (days: see :func:`day_label_step`).
    """
    top_pad = TOP_WITH_UNIT if unit else TOP
    plot_w, plot_h = width - LEFT - RIGHT, height - top_pad - BOTTOM
    top = max([1] + [value for group in groups for value in group.values])
    slot = plot_w / max(1, len(groups))
    bar_w = slot * BAR_SHARE / max(1, len(series))
    baseline = top_pad + plot_h
    drawn, ticks = [], []
    last = len(groups) - 1
    for i, group in enumerate(groups):
        x = LEFT + i * slot + slot * (1 - BAR_SHARE) / 2
        bars = []
        for j, (one, value) in enumerate(zip(series, group.values, strict=True)):
            if value:
                h = plot_h * value / top
                bars.append(Bar(round(x + j * bar_w, 2), round(baseline - h, 2), round(bar_w, 2), round(h, 2),
                                one.key, f"{group.label} {one.label}: {value}"))
        if bars:
            drawn.append(BarGroup(group.key, tuple(bars)))
        if label_every == 1:
            ticks.append(Tick(round(LEFT + (i + 0.5) * slot, 1), group.label, "middle"))
        elif i == last:
            ticks.append(Tick(round(LEFT + (i + 1) * slot, 1), group.label, "end"))
        elif (last - i) % label_every == 0:
            ticks.append(Tick(round(LEFT + (i + 0.5) * slot, 1), group.label, "middle"))
    return Chart(width, height, LEFT, baseline, top_pad, top, kind, unit, tuple(drawn), tuple(ticks), tuple(series))


def day_label_step(days: int) -> int:
    """A label a week apart, or weeks apart on a long range: about six labels at most."""
    return 7 * max(1, math.ceil(days / 42))


# ---- trend lines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # "11-02 本期: 4"


@dataclass(frozen=True)
class Trend:
    series: str  # the CSS class that colours its line, its dots and its legend mark
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        """The polyline's ``points`` attribute."""
        return " ".join(f"{p.x},{p.y}" for p in self.points)


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    baseline: float
    top_y: float
    top: int
    kind: str
    unit: str
    lines: tuple[Trend, ...]  # one per series, a point for every group (zeros included: a line has no gaps)
    ticks: tuple[Tick, ...]
    series: tuple[Series, ...]


def trend_lines(groups: Sequence[Group], series: Sequence[Series], *, kind: str, label_every: int = 1,
                unit: str = "", width: int = 420, height: int = 170) -> LineChart:
    """One line per series across the groups (days), on one scale from 0 to the largest value:
    the first group on the scale, the last at the right edge, labelled as :func:`grouped_bars`
    labels days (the last always, and every ``label_every``-th counted back from it)."""
    top_pad = TOP_WITH_UNIT if unit else TOP
    plot_w, plot_h = width - LEFT - RIGHT, height - top_pad - BOTTOM
    top = max([1] + [value for group in groups for value in group.values])
    step = plot_w / max(1, len(groups) - 1)
    baseline = top_pad + plot_h
    last = len(groups) - 1
    xs = [round(LEFT + i * step, 2) if last else round(LEFT + plot_w / 2, 2) for i in range(len(groups))]
    lines = tuple(
        Trend(one.key, tuple(Point(xs[i], round(baseline - plot_h * group.values[j] / top, 2),
                                   f"{group.label} {one.label}: {group.values[j]}") for i, group in enumerate(groups)))
        for j, one in enumerate(series))
    ticks = tuple(Tick(xs[i], group.label, "end" if i == last and last else "start" if i == 0 and last else "middle")
                  for i, group in enumerate(groups) if (last - i) % label_every == 0)
    return LineChart(width, height, LEFT, baseline, top_pad, top, kind, unit, lines, ticks, tuple(series))
