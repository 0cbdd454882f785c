"""The console's grouped bar charts (scrm/web/charts.py): geometry only, no page."""

from __future__ import annotations

import pytest

from scrm.web.charts import RIGHT, Group, Series, day_label_step, grouped_bars

SERIES = (Series("scans", "扫码 scans"), Series("bindings", "绑定 bindings"))


def test_bars_share_one_scale_from_zero_to_the_largest_and_zeros_are_left_out():
    chart = grouped_bars([Group("a", "A", (4, 2)), Group("b", "B", (0, 0)), Group("c", "C", (0, 1))], SERIES,
                         kind="variant")
    assert chart.top == 4
    assert [g.key for g in chart.groups] == ["a", "c"]  # B has nothing to draw
    (scans, bindings), (late,) = chart.groups[0].bars, chart.groups[1].bars
    assert (scans.series, scans.label) == ("scans", "A 扫码 scans: 4")
    assert scans.y == pytest.approx(chart.top_y) and scans.y + scans.height == pytest.approx(chart.baseline)
    assert bindings.height == pytest.approx(scans.height / 2, abs=0.02)  # rounded to 0.01
    assert bindings.x == pytest.approx(scans.x + scans.width, abs=0.02)  # side by side
    assert late.label == "C 绑定 bindings: 1"
    assert [(t.text, t.anchor) for t in chart.ticks] == [("A", "middle"), ("B", "middle"), ("C", "middle")]


def test_an_empty_chart_still_has_a_scale():
    chart = grouped_bars([Group("2026-11-02", "11-02", (0, 0))], SERIES, kind="day")
    assert chart.top == 1 and chart.groups == ()


def test_days_are_labelled_weeks_apart_counted_back_from_the_last():
    groups = [Group(str(i), f"d{i}", (1, 0)) for i in range(30)]
    chart = grouped_bars(groups, SERIES, kind="day", label_every=day_label_step(30), width=400)
    assert [(t.text, t.anchor) for t in chart.ticks] == [("d1", "middle"), ("d8", "middle"), ("d15", "middle"),
                                                          ("d22", "middle"), ("d29", "end")]
    assert chart.ticks[-1].x == pytest.approx(400 - RIGHT)  # the last label ends at the plot's right edge
    assert day_label_step(90) == 21


def test_a_unit_above_the_scale_gets_its_room():
    plain = grouped_bars([Group("a", "A", (1, 1))], SERIES, kind="day")
    with_unit = grouped_bars([Group("a", "A", (1, 1))], SERIES, kind="day", unit="张 coupons")
    assert with_unit.unit == "张 coupons" and with_unit.top_y > plain.top_y
    assert with_unit.baseline == plain.baseline


def test_trend_lines_span_the_plot_with_a_point_for_every_day():
    from scrm.web.charts import LEFT, trend_lines

    days = [Group(f"d{i}", f"d{i}", (i % 3, 1)) for i in range(15)]
    chart = trend_lines(days, SERIES, kind="day", label_every=7, width=400)
    now, before = chart.lines
    assert chart.top == 2 and (now.series, before.series) == ("scans", "bindings")
    assert len(now.points) == 15 and now.points[0].x == LEFT and now.points[-1].x == pytest.approx(400 - RIGHT)
    assert now.points[0].y == pytest.approx(chart.baseline)  # a zero sits on the axis: no gap in the line
    assert now.points[2].y == pytest.approx(chart.top_y) and now.points[2].label == "d2 扫码 scans: 2"
    assert before.points[5].y == pytest.approx((chart.baseline + chart.top_y) / 2)
    assert now.path.startswith(f"{float(LEFT)},{float(chart.baseline)} 57.86,")
    assert [(t.text, t.anchor) for t in chart.ticks] == [("d0", "start"), ("d7", "middle"), ("d14", "end")]


def test_a_one_day_trend_is_a_point_in_the_middle():
    from scrm.web.charts import trend_lines

    chart = trend_lines([Group("d", "11-02", (3, 0))], SERIES, kind="day", unit="次")
    assert [len(line.points) for line in chart.lines] == [1, 1] and chart.ticks[0].anchor == "middle"
    assert chart.lines[0].points[0].x == chart.ticks[0].x
