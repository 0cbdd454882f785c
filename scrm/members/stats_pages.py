"""The console's membership figures (会员数据, SPEC §11, §13), for admins and managers: for a
period of local days (30 by default), the totals beside the period before; members by level;
new members per day beside the period before, day by day; points issued, spent and expired per
day; check-ins per day; exchanges per item; the points outstanding now (the brand's liability).
Read through scrm/members/stats.py, as ``GET /api/members/stats`` reads them."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from scrm.clock import local_day
from scrm.groups.pages import console_period
from scrm.members import stats
from scrm.members.levels import ensure_levels
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.charts import Group, Series, day_label_step, grouped_bars

member_stats_console = Blueprint("member_stats_console", __name__, template_folder="templates",
                                 url_prefix="/console")

LEVELS = (Series("members", _l("会员")),)
JOINED = (Series("now", _l("本期")), Series("before", _l("上期同日")))
POINTS = (Series("issued", _l("发放")), Series("spent", _l("消耗")), Series("expired", _l("过期")))
CHECKINS = (Series("checkins", _l("签到")),)
QUICK_DAYS = (7, 30, 90)


@member_stats_console.get("/member-stats")
@require_role(*MANAGERS)
def stats_page():  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = console_period(runtime)
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        ensure_levels(db_session=db_session, config=runtime.config, at=now)
        found = stats.member_stats(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                   at=now)
        before_days = stats.day_figures(db_session=db_session, config=runtime.config,
                                        first_day=found.before_first, last_day=found.before_last)
    step = day_label_step(len(found.days))
    charts = {
        "levels": grouped_bars([Group(str(lv.level_id), lv.name, (lv.members,)) for lv in found.by_level], LEVELS,
                               kind="level", unit=_("人")),
        "joined": grouped_bars([Group(d.day.isoformat(), f"{d.day:%m-%d}", (d.joined, b.joined))
                                for d, b in zip(found.days, before_days, strict=True)], JOINED, kind="day",
                               label_every=step, unit=_("人")),
        "points": grouped_bars([Group(d.day.isoformat(), f"{d.day:%m-%d}", (d.issued, d.spent, d.expired))
                                for d in found.days], POINTS, kind="day", label_every=step, unit=_("积分")),
        "checkins": grouped_bars([Group(d.day.isoformat(), f"{d.day:%m-%d}", (d.checkins,)) for d in found.days],
                                 CHECKINS, kind="day", label_every=step, unit=_("次")),
    }
    today = local_day(runtime.config, now)
    quick = [(n, (today - timedelta(days=n - 1)).isoformat(), today.isoformat()) for n in QUICK_DAYS]
    most_exchanged = max([item.exchanges for item in found.items] + [1])
    return render_template("members/stats.html", s=found, charts=charts, errors=errors, quick=quick,
                           most_exchanged=most_exchanged, caller=current_caller()), 422 if errors else 200
