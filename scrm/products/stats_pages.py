"""The console's product-code figures (扫码数据, SPEC §14), for admins and managers: for a period
of local days (30 by default) and, if chosen, one batch, product, store or guide: the totals
beside the period before (claims, customers, new followers, repeat and refused scans); claims
per day as a line beside the same days of the period before; stores and guides ranked by
claims; refused scans by reason, in words; batches and products; the suspicious patterns.
Read through scrm/products/stats.py, as ``GET /api/product-codes/stats`` reads them.

Filters are ``?from=&to=&batch=<id>&product=<name>&store=<code>&guide=<code>``; one that names
nothing is said on the page (422) and not applied."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from scrm.clock import local_day
from scrm.groups.pages import console_period
from scrm.products.stats import Choices, filter_choices, product_stats
from scrm.products.stats_scope import Scope
from scrm.products.suspicious import LIMIT_DAYS, MANY_CLAIMS, NOT_GENUINE, SHARED_BY
from scrm.texts import local_time
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.charts import Group, Series, day_label_step, trend_lines

product_stats_console = Blueprint("product_stats_console", __name__, template_folder="templates",
                                  url_prefix="/console")

# Every reason a scan gave no reward (ProductScan.result), in the order the page lists them.
REASON_WORDS = {
    "not_genuine": _l("非正品"), "expired": _l("批次已过期"), "daily_limit": _l("超出每日限额"),
    "claimed_by_other": _l("他人已领取"), "already_yours": _l("重复扫码"), "not_following": _l("未关注"),
    "reward_unavailable": _l("奖品已领完"),
}
REASON_HINTS = {
    "not_genuine": _l("码对不上，或批次不存在：伪造或抄错的码"),
    "expired": _l("批次过了有效期"),
    "daily_limit": _l("顾客当天领取已达上限"),
    "claimed_by_other": _l("别人已经领过：包装可能被用过，或是仿冒品"),
    "already_yours": _l("顾客再次扫自己领过的码"),
    "not_following": _l("还没关注公众号：关注后自动领取"),
    "reward_unavailable": _l("优惠券停发、领完或到了每人上限：码仍可再领"),
}
TREND = (Series("now", _l("本期")), Series("before", _l("上期同日")))
QUICK_DAYS = (7, 30, 90)
WEEK = 7
RANKED = 10  # stores and guides in each ranking's bars
BATCHES_PAGE = "product_console.batches"  # the batches' console page (码批次), when it is installed


@product_stats_console.get("/product-codes/stats")
@require_role(*MANAGERS)
def stats():  # noqa: ANN201
    runtime = current_runtime()
    first, last, errors = console_period(runtime)
    with runtime.transaction() as db_session:
        choices = filter_choices(db_session=db_session)
        scope, refused = _scope(choices)
        found = product_stats(db_session=db_session, config=runtime.config, first_day=first, last_day=last,
                              batch_id=scope.batch_id, product=scope.product, store_id=scope.store_id,
                              guide_id=scope.guide_id)
    errors += refused
    step = 1 if len(found.days) <= WEEK else day_label_step(len(found.days))  # a week: every day named
    trend = trend_lines([Group(str(d.key), d.label, (d.now.claims, d.before.claims)) for d in found.days], TREND,
                        kind="day", label_every=step, unit=_("次"))
    chosen = {"batch": str(scope.batch_id or ""), "product": scope.product or "",
              "store": request.args.get("store", "").strip() if scope.store_id else "",
              "guide": request.args.get("guide", "").strip() if scope.guide_id else ""}
    today = local_day(runtime.config, runtime.clock.now())
    kept = {name: value for name, value in chosen.items() if value}  # the quick periods keep the filters
    quick = [(n, url_for(".stats", **kept, **{"from": (today - timedelta(days=n - 1)).isoformat(),
                                              "to": today.isoformat()})) for n in QUICK_DAYS]
    zone = runtime.config.brand.zone
    batches_url = url_for(BATCHES_PAGE) if BATCHES_PAGE in current_app.view_functions else None
    return render_template(
        "products/stats.html", s=found, trend=trend, choices=choices, chosen=chosen, quick=quick, errors=errors,
        reasons=REASON_WORDS, hints=REASON_HINTS, stores=found.stores[:RANKED], guides=found.guides[:RANKED],
        most_store=_most(found.stores[:RANKED]), most_guide=_most(found.guides[:RANKED]), batches_url=batches_url,
        thresholds={"many": MANY_CLAIMS, "shared": SHARED_BY, "limit": LIMIT_DAYS, "fake": NOT_GENUINE},
        local=lambda at: local_time(at, zone), caller=current_caller()), 422 if errors else 200


def _scope(choices: Choices) -> tuple[Scope, list[dict[str, str]]]:
    """The filters asked for, each checked against what exists; one that names nothing is
    refused (said on the page) and left out."""
    errors: list[dict[str, str]] = []
    batch = request.args.get("batch", "").strip()
    batch_id = int(batch) if batch.isascii() and batch.isdigit() and len(batch) < 19 else None
    if batch and not choices.has_batch(batch_id):
        errors.append({"field": "batch", "message": _("没有这个批次：%(batch)s", batch=batch)})
        batch_id = None
    product = request.args.get("product", "").strip() or None
    if product is not None and product not in choices.products:
        errors.append({"field": "product", "message": _("没有这个产品的批次：%(product)s", product=product)})
        product = None
    store, guide = request.args.get("store", "").strip(), request.args.get("guide", "").strip()
    store_id = choices.store_id(store)
    if store and store_id is None:
        errors.append({"field": "store", "message": _("没有门店 %(code)s", code=store)})
    guide_id = choices.guide_id(guide)
    if guide and guide_id is None:
        errors.append({"field": "guide", "message": _("没有导购 %(code)s", code=guide)})
    return Scope(batch_id, product, store_id, guide_id), errors


def _most(lines) -> int:  # noqa: ANN001
    """The longest bar of a ranking: the most claims of either period."""
    return max([max(line.now.claims, line.before.claims) for line in lines] + [1])
