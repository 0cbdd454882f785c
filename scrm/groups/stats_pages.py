"""The console's group statistics (社群数据, SPEC §9, §11), for admins and managers: for a period
of local days (30 by default), the totals beside the period before, joins and quits per day and
members at each day's end as charts, then tables by group, by owner (with SOP tasks sent on time)
and by live code. Read through scrm/groups/stats.py, as ``GET /api/group-stats`` reads them."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from scrm.clock import local_day
from scrm.groups import stats
from scrm.groups.pages import STATUS_WORDS, console_period
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.charts import Group, Series, day_label_step, grouped_bars

group_stats_console = Blueprint("group_stats_console", __name__, template_folder="templates", url_prefix="/console")

MOVES = (Series("joined", _l("入群")), Series("quit", _l("退群")))
MEMBERS = (Series("members", _l("成员")),)
QUICK_DAYS = (7, 30, 90)


@group_stats_console.get("/group-stats")
@require_role(*MANAGERS)
def stats_page():  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = console_period(runtime)
    before_last = first - timedelta(days=1)
    before_first = before_last - (last - first)
    with runtime.transaction() as db_session:
        days, at_start = stats.day_figures(db_session=db_session, config=runtime.config, first=first, last=last)
        before = stats.totals(*stats.day_figures(db_session=db_session, config=runtime.config, first=before_first,
                                                 last=before_last))
        groups = stats.by_group(db_session=db_session, config=runtime.config, first=first, last=last)
        owners = stats.by_owner(db_session=db_session, config=runtime.config, first=first, last=last)
        codes = stats.by_code(db_session=db_session, first=first, last=last)
    step = day_label_step(len(days))
    moves = grouped_bars([Group(d.day.isoformat(), f"{d.day:%m-%d}", (d.joined, d.quit)) for d in days], MOVES,
                         kind="day", label_every=step, unit=_("人"))
    members = grouped_bars([Group(d.day.isoformat(), f"{d.day:%m-%d}", (d.members,)) for d in days], MEMBERS,
                           kind="day", label_every=step, unit=_("人"))
    today = local_day(runtime.config, runtime.clock.now())
    quick = [(n, (today - timedelta(days=n - 1)).isoformat(), today.isoformat()) for n in QUICK_DAYS]
    return render_template(
        "groups/stats.html", first=first, last=last, errors=errors, days=days, totals=stats.totals(days, at_start),
        before=before, before_first=before_first, before_last=before_last, groups=groups,
        owners=owners, codes=codes, moves=moves,
        members=members, quick=quick, status_words=STATUS_WORDS, caller=current_caller(),
    ), 422 if errors else 200
