"""What the dashboard page shows of the funnel (SPEC §11): each step's people with their share
of the step before, its events, and the change from the period before; and the chart of the
two periods side by side (its geometry from scrm/web/charts.py, as the other consoles' charts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _, lazy_gettext as _l

from scrm.web.charts import Chart, Group, Series, day_label_step, grouped_bars

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qrcodes.stats import DayStats
    from scrm.dashboard.funnel import Comparison

# Lazy: put in the reader's language when the page is drawn (scrm/web/i18n.py).
STAGE_WORDS = {"scans": _l("扫码"), "follows": _l("关注"), "bindings": _l("绑定导购"),
               "coupons_issued": _l("领券"), "coupons_redeemed": _l("核销")}
STAGE_SHORT = {"scans": _l("扫码"), "follows": _l("关注"), "bindings": _l("绑定"), "coupons_issued": _l("领券"),
               "coupons_redeemed": _l("核销")}
EVENT_WORDS = {"scans": _l("次扫码"), "follows": _l("次关注"), "bindings": _l("次绑定"),
               "coupons_issued": _l("张发出"), "coupons_redeemed": _l("张核销")}
PERIODS = (Series("now", _l("本期")), Series("before", _l("上期")))
DAY_SERIES = (Series("scans", _l("扫码")), Series("follows", _l("关注")), Series("bindings", _l("绑定")))


@dataclass(frozen=True)
class Step:
    stage: str
    words: str
    people: int
    width: float  # of the bar, % of the first step's people (of the larger period's)
    before_width: float
    rate: str | None  # "50.0%" of the step before; None for the first step
    events: int
    events_words: str
    before_people: int
    change: int  # people now minus people before
    change_percent: str | None  # "+25.0%"; None when the period before had nobody here
    rate_change: str | None  # "+5.0" percentage points of the rate from the step before

    @property
    def trend(self) -> str:
        return "up" if self.change > 0 else "down" if self.change < 0 else "flat"


@dataclass(frozen=True)
class FunnelView:
    steps: tuple[Step, ...]
    chart: Chart
    trend: Chart
    before_first: str
    before_last: str


def funnel_view(found: Comparison, days: Sequence[DayStats]) -> FunnelView:
    steps = found.steps()
    widest = max([s["count"] for s in steps] + [s["before"]["count"] for s in steps] + [1])
    shown = tuple(Step(
        s["stage"], STAGE_WORDS[s["stage"]], s["count"], round(s["count"] / widest * 100, 1),
        round(s["before"]["count"] / widest * 100, 1), _percent(s["rate_from_previous"]), s["events"],
        EVENT_WORDS[s["stage"]], s["before"]["count"], s["change"]["count"],
        _percent(s["change"]["percent"], signed=True), _points(s["change"]["rate_from_previous"]),
    ) for s in steps)
    groups = [Group(s["stage"], STAGE_SHORT[s["stage"]], (s["count"], s["before"]["count"])) for s in steps]
    chart = grouped_bars(groups, PERIODS, kind="stage", unit=_("人"))
    trend = grouped_bars([Group(d.day.isoformat(), f"{d.day:%m-%d}", (d.scans, d.follows, d.bindings)) for d in days],
                         DAY_SERIES, kind="day", label_every=day_label_step(len(days)), unit=_("次"))
    return FunnelView(shown, chart, trend, found.before.first_day.isoformat(), found.before.last_day.isoformat())


def _percent(rate: float | None, *, signed: bool = False) -> str | None:
    if rate is None:
        return None
    return f"{rate * 100:+.1f}%" if signed else f"{rate * 100:.1f}%"


def _points(difference: float | None) -> str | None:
    return None if difference is None else f"{difference * 100:+.1f}"
