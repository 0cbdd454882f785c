"""The console's dashboard (看板, SPEC §11), for admins and managers: the funnel as a cohort
(scanned → followed → bound → given a coupon → redeemed, in people, each step with its events)
beside the period before, the guides' leaderboard, the tags most customers carry, the latest
campaigns' results, the membership card and the product codes' (一物一码: claims today and this
week beside the day and week before, refused scans); for a period of local days and, if
chosen, one store (the product-code card is always today and this week). Every number
is also written out beside its bar."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l

from scrm.clock import local_day
from scrm.coupons.stats import MAX_DAYS
from scrm.dashboard import board
from scrm.dashboard.console_views import funnel_view
from scrm.dashboard.funnel import compare, days
from scrm.members.stats import headline
from scrm.products.stats import headline as product_headline
from scrm.web.api import current_runtime, day_range
from scrm.web.auth import current_caller, require_role
from scrm.web.errors import ApiError
from scrm.web.refusals import reader_message

dashboard_console = Blueprint("dashboard_console", __name__, template_folder="templates", url_prefix="/console")

DEFAULT_DAYS = 30  # as day_range's default
# A campaign's channel and status as the latest campaigns' table names them.
CHANNEL_WORDS = {"mp_custom": _l("公众号客服消息"), "mp_template": _l("公众号模板消息"), "mp_mass": _l("公众号群发"),
                 "work_single": _l("企业微信单聊"), "work_group": _l("企业微信客户群"),
                 "work_group_invite": _l("企业微信邀请进群")}
STATUS_WORDS = {"draft": _l("草稿"), "scheduled": _l("已排期"), "running": _l("发送中"), "paused": _l("已暂停"),
                "done": _l("已完成"), "cancelled": _l("已取消")}


@dashboard_console.get("/dashboard")
@require_role("admin", "manager")
def dashboard():  # noqa: ANN201
    runtime = current_runtime()
    errors, status = [], 200
    try:
        first, last = day_range(runtime, most_days=MAX_DAYS)
    except ApiError as exc:  # shown, and the last 30 days instead
        errors.append({"field": "from", "message": reader_message(exc.message)})
        status = 422
        last = local_day(runtime.config, runtime.clock.now())
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    store_code = request.args.get("store", "").strip()
    now = runtime.clock.now()
    with runtime.transaction() as db_session:
        stores = board.stores(db_session=db_session)
        store = next((s for s in stores if s.code == store_code), None)
        if store_code and store is None:
            errors.append({"field": "store", "message": _("没有门店 %(code)s", code=store_code)})
            status = 422
        store_id = store.id if store else None
        shown = funnel_view(compare(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                    store_id=store_id),
                            days(db_session=db_session, first_day=first, last_day=last, store_id=store_id))
        leaders = board.leaderboard(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                                    store_id=store_id)
        tags = board.tag_distribution(db_session=db_session, now=now)
        campaigns = board.latest_campaigns(db_session=db_session)
        members = headline(db_session=db_session, config=runtime.config, first_day=first, last_day=last)
        codes = product_headline(db_session=db_session, today=local_day(runtime.config, now), store_id=store_id)
    most_bound = max([g.bindings for g in leaders] + [1])
    most_tagged = max([t.customers for t in tags] + [1])
    return render_template("dashboard/dashboard.html", first=first, last=last, stores=stores,
                           store=store, funnel=shown, leaders=leaders, codes=codes,
                           most_bound=most_bound, tags=tags, most_tagged=most_tagged, campaigns=campaigns, members=members,
                           errors=errors, channel_words=CHANNEL_WORDS, status_words=STATUS_WORDS,
                           caller=current_caller()), status
