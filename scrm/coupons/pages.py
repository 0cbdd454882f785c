"""Console pages for coupons (优惠券), for admins and managers: templates and their rules, issue
by hand, look a coupon up to void it (作废) or take its redemption back (撤销核销), statistics,
and the reminders recorded for outreach.

Server-rendered forms, usable on a phone, as guides/pages.py does them: GET shows; POST acts
through the same service functions as the JSON API (scrm/coupons/routes.py), then redirects
with a one-line message (post/redirect/get). Input the domain refuses re-renders the page with
the errors and what was typed, and changes nothing: 422 for invalid input, 409 for a conflict
(stock gone, the customer at the limit, a coupon already redeemed). A void or un-redeem that is
refused keeps its audit row, as the API does. What a page shows is read by
scrm/coupons/console_views.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from pydantic import ValidationError

from scrm.clock import local_day
from scrm.coupons import console_views, issuing, redemption, stats
from scrm.coupons import coupon_templates as template_service  # coupon_templates is a view here
from scrm.coupons.codes import display
from scrm.coupons.models import KINDS, TRIGGERS
from scrm.coupons.schemas import VALUE_FIELD, ReasonIn, RuleIn, TemplateChangeIn, TemplateIn, parse
from scrm.customers.service import resolve
from scrm.errors import InvalidInput
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_fields, form_status, not_found_as_404
from scrm.web.refusals import reader_message
from tagging.orders import UnknownCustomer, find_customer
from tagging.schemas import CustomerRefIn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from werkzeug.datastructures import MultiDict

coupon_console = Blueprint("coupon_console", __name__, template_folder="templates", url_prefix="/console")

TEMPLATE_FIELDS = ("name", "kind", "amount", "discount", "gift", "min_spend", "description", "validity",
                   "valid_from", "valid_until", "valid_days", "stock", "per_customer_limit", "remind_days_before")
FIND_BY = ("customer_id", "openid", "phone")
REFUSAL_STATUS = {"bad_code": 422, "not_found": 404}  # every other refusal: 409, as the API answers
# A coupon's status as the console reads it (customers' pages word it in brand.locale: scrm/texts.py).
STATUS_WORDS = {"issued": _l("可使用"), "redeemed": _l("已使用"), "voided": _l("已作废"), "expired": _l("已过期")}
SOURCE_WORDS = {"rule": _l("发券规则"), "campaign": _l("活动"), "manual": _l("手动发券"), "exchange": _l("积分兑换"),
                "member": _l("会员权益")}
# Why a coupon was not issued by hand (scrm/coupons/issuing.py's reasons), by name.
NOT_ISSUED_WORDS = {"not_found": _l("没有这个券模板"), "paused": _l("这个券已暂停发放"), "ended": _l("这个券的固定日期已结束"),
                    "out_of_stock": _l("库存已发完"), "limit_reached": _l("这位顾客已领到每人限领的张数")}
# What a look-up, a void or an un-redeem found (scrm/coupons/redemption.py's results), by name.
RESULT_WORDS = {
    "ok": _l("可以核销"), "bad_code": _l("券码格式不对"), "not_found": _l("没有这个券码的券"),
    "already_redeemed": _l("这张券已经核销过了"), "voided": _l("这张券已作废"), "expired": _l("这张券已过期"),
    "not_yet_valid": _l("这张券还没到使用时间"), "not_valid_in_store": _l("这张券不能在本店使用"),
    "not_redeemed": _l("这张券没有核销过"), "issued": _l("这张券还没有使用"), "redeemed": _l("这张券已经核销过了"),
}

_404_when_missing = not_found_as_404(template_service.TemplateNotFound)


class _Refused(Exception):
    """Issuing refused (stock gone, paused, the customer at the limit): a conflict."""


# ---- templates ------------------------------------------------------------------------------

@coupon_console.get("/coupons")
@require_role(*MANAGERS)
def coupon_templates():  # noqa: ANN201
    return _render_templates()


@coupon_console.post("/coupons")
@require_role(*MANAGERS)
def create_template():  # noqa: ANN201
    form = {**form_fields(request.form, *TEMPLATE_FIELDS), "stores": request.form.getlist("stores")}
    runtime = current_runtime()
    try:
        template_in = parse(TemplateIn, _template_input(form, runtime.config.brand.zone),
                            what="coupon template")
        with runtime.transaction() as db_session:
            template = template_service.create_template(db_session=db_session, template_in=template_in,
                                                 at=runtime.clock.now())
            template_id = template.id
    except (InvalidInput, template_service.UnknownStores) as exc:
        return _render_templates(status=422, form=form, errors=_errors(exc))
    flash(_("券模板 %(name)s 已创建。", name=template_in.name))
    return redirect(url_for(".coupon_template", template_id=template_id))


def _render_templates(*, status: int = 200, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        page = console_views.templates_page(config=runtime.config, db_session=db_session)
    return render_template("coupons/console/templates.html", caller=current_caller(), page=page, kinds=KINDS,
                           **state), status


# ---- one template: change, rules, issue by hand ----------------------------------------------

@coupon_console.get("/coupons/<int:template_id>")
@require_role(*MANAGERS)
@_404_when_missing
def coupon_template(template_id: int):  # noqa: ANN201
    return _render_template(template_id)


@coupon_console.post("/coupons/<int:template_id>")
@require_role(*MANAGERS)
@_404_when_missing
def change_template(template_id: int):  # noqa: ANN201
    form = form_fields(request.form, "status", "stock", "remind_days_before", "description")
    try:
        change = parse(TemplateChangeIn, _change_input(request.form), what="template change")
        with current_runtime().transaction() as db_session:
            template = template_service.change_template(db_session=db_session, template_id=template_id, change=change)
            status = template.status
    except (InvalidInput, template_service.StockBelowIssued) as exc:
        return _render_template(template_id, status=form_status(exc, template_service.StockBelowIssued), edit=form,
                                edit_errors=form_errors(exc))
    flash(_("已保存。") if "stock" in request.form else
          _("已暂停发放：恢复前不再发券。") if status == "paused" else _("已恢复发放。"))
    return redirect(url_for(".coupon_template", template_id=template_id))


@coupon_console.post("/coupons/<int:template_id>/rules")
@require_role(*MANAGERS)
@_404_when_missing
def create_rule(template_id: int):  # noqa: ANN201
    form = form_fields(request.form, "trigger", "min_amount")
    runtime = current_runtime()
    try:
        body = {"template_id": template_id, "trigger": form["trigger"],
                **({"min_amount": form["min_amount"]} if form["min_amount"] else {})}
        rule_in = parse(RuleIn, body, what="coupon rule")
        with runtime.transaction() as db_session:
            rule_id = template_service.create_rule(db_session=db_session, rule_in=rule_in, at=runtime.clock.now()).id
    except InvalidInput as exc:
        return _render_template(template_id, status=422, rule_form=form, rule_errors=form_errors(exc))
    flash(_("规则 #%(id)s 已添加。", id=rule_id))
    return redirect(url_for(".coupon_template", template_id=template_id, _anchor="rules"))


@coupon_console.post("/coupons/rules/<int:rule_id>/active")
@require_role(*MANAGERS)
@_404_when_missing
def set_rule_active(rule_id: int):  # noqa: ANN201
    active = request.form.get("active") == "1"
    with current_runtime().transaction() as db_session:
        template_id = template_service.set_rule_active(db_session=db_session, rule_id=rule_id, active=active).template_id
    flash(_("规则 #%(id)s 已启用。", id=rule_id) if active else _("规则 #%(id)s 已停用。", id=rule_id))
    return redirect(url_for(".coupon_template", template_id=template_id, _anchor="rules"))


@coupon_console.post("/coupons/<int:template_id>/issue")
@require_role(*MANAGERS)
@_404_when_missing
def issue_by_hand(template_id: int):  # noqa: ANN201
    """手动发券: one coupon of this template to the customer named by id, openid or phone."""
    form = form_fields(request.form, "by", "who")
    runtime, caller = current_runtime(), current_caller()
    try:
        with runtime.transaction() as db_session:
            template_service.get_template(db_session=db_session, template_id=template_id)  # a missing one: 404
            customer_id = _customer_id(db_session, form["by"], form["who"])
            try:
                coupon = issuing.issue(runtime=runtime, db_session=db_session, template_id=template_id,
                                       customer_id=customer_id, source="manual", source_ref=caller.name,
                                       at=runtime.clock.now())
            except issuing.NotIssued as exc:
                raise _Refused(NOT_ISSUED_WORDS.get(exc.reason, exc.message)) from exc
            code = display(coupon.code or "")
    except (InvalidInput, _Refused) as exc:
        return _render_template(template_id, status=form_status(exc, _Refused), issue_form=form,
                                issue_errors=form_errors(exc))
    flash(_("已发券：%(code)s → 顾客 #%(id)s。", code=code, id=customer_id))
    return redirect(url_for(".coupon_template", template_id=template_id, _anchor="issue"))


def _render_template(template_id: int, *, status: int = 200, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        page = console_views.template_page(config=runtime.config, db_session=db_session, template_id=template_id,
                                     today=local_day(runtime.config, runtime.clock.now()))
    t = page.template
    state.setdefault("edit", {"status": t.status, "stock": "" if t.stock is None else str(t.stock),
                              "remind_days_before": "" if t.remind_days_before is None else str(t.remind_days_before),
                              "description": t.description or ""})
    return render_template("coupons/console/template.html", caller=current_caller(), page=page, triggers=TRIGGERS,
                           find_by=FIND_BY, percent=stats.percent, **state), status


# ---- one coupon: look up, void, un-redeem ----------------------------------------------------

@coupon_console.get("/coupons/lookup")
@require_role(*MANAGERS)
def lookup():  # noqa: ANN201
    code = request.args.get("code")
    if code is None:
        return _render_lookup(None)
    if not code.strip():
        return _render_lookup(None, status=422, code_errors=form_errors(InvalidInput("code", _("输入券码"))))
    return _render_lookup(code.strip())


@coupon_console.post("/coupons/void")
@require_role(*MANAGERS)
def void():  # noqa: ANN201
    return _move("void", redemption.void, _("已作废。"))


@coupon_console.post("/coupons/unredeem")
@require_role(*MANAGERS)
def unredeem():  # noqa: ANN201
    return _move("unredeem", redemption.unredeem, _("已撤销核销：这张券可以再次使用。"))


def _move(action: str, move: Any, done: str):  # noqa: ANN202, ANN401
    form = form_fields(request.form, "code", "reason")
    runtime, caller = current_runtime(), current_caller()
    try:
        reason = parse(ReasonIn, {"reason": form["reason"]}, what="reason").reason
    except InvalidInput as exc:
        return _render_lookup(form["code"], status=422, move=action, move_errors=form_errors(exc))
    with runtime.transaction() as db_session:  # a refusal commits too: its audit row is kept
        outcome = move(runtime=runtime, db_session=db_session, code=form["code"], reason=reason,
                       counter=redemption.Counter(user_id=caller.user_id, store_id=None))
    if not outcome.ok:
        return _render_lookup(form["code"], status=REFUSAL_STATUS.get(outcome.result, 409), move=action,
                              move_errors=[{"field": "", "message": RESULT_WORDS.get(outcome.result, outcome.message)}])
    flash(done)
    return redirect(url_for(".lookup", code=form["code"]))


def _render_lookup(code: str | None, *, status: int | None = None, **state: Any):  # noqa: ANN202
    runtime = current_runtime()
    page = None
    if code is not None:
        with runtime.transaction() as db_session:
            page = console_views.lookup_page(runtime=runtime, db_session=db_session, code=code)
        if status is None and page.coupon is None:
            status = REFUSAL_STATUS.get(page.outcome.result, 422)
    return render_template("coupons/console/lookup.html", caller=current_caller(), page=page, code=code or "",
                           status_words=STATUS_WORDS, source_words=SOURCE_WORDS, result_words=RESULT_WORDS,
                           **state), status or 200


# ---- statistics and reminders ----------------------------------------------------------------

@coupon_console.get("/coupons/stats")
@require_role(*MANAGERS)
def coupon_stats():  # noqa: ANN201
    runtime = current_runtime()
    by = request.args.get("by") if request.args.get("by") in stats.DIMENSIONS else "template"
    today = local_day(runtime.config, runtime.clock.now())
    typed = {"from": request.args.get("from", "").strip(), "to": request.args.get("to", "").strip()}
    status, errors = 200, []
    try:
        first, last = _day_range(typed, today)
    except InvalidInput as exc:
        status, errors = 422, form_errors(exc)
        first, last = today - timedelta(days=console_views.STATS_DAYS - 1), today
    with runtime.transaction() as db_session:
        page = console_views.stats_page(config=runtime.config, db_session=db_session, by=by, first_day=first, last_day=last)
    return render_template("coupons/console/stats.html", caller=current_caller(), page=page, typed=typed,
                           errors=errors, dimensions=stats.DIMENSIONS, percent=stats.percent), status


@coupon_console.get("/coupons/reminders")
@require_role(*MANAGERS)
def reminders():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rows, counts = console_views.reminders_page(config=runtime.config, db_session=db_session)
    return render_template("coupons/console/reminders.html", caller=current_caller(), rows=rows, counts=counts,
                           status_words=STATUS_WORDS)


# ---- form input ------------------------------------------------------------------------------

def _template_input(form: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The form as TemplateIn takes it. Only the chosen kind's value is sent (the form shows all
    three); a blank stock is no limit, a blank per-customer limit too; fixed dates are whole
    days in the brand's zone, the last one included."""
    limit = form["per_customer_limit"]
    data: dict[str, Any] = {"name": form["name"], "kind": form["kind"], "stores": form["stores"],
                            "per_customer_limit": _int(limit) if limit else None}
    value = VALUE_FIELD.get(form["kind"])
    if value and form[value]:
        data[value] = form[value]
    for name in ("min_spend", "description"):
        if form[name]:
            data[name] = form[name]
    for name in ("stock", "remind_days_before"):
        if form[name]:
            data[name] = _int(form[name])
    if form["validity"] == "days":
        data["valid_days"] = _int(form["valid_days"]) if form["valid_days"] else None
    elif form["validity"] == "dates":
        data["valid_from"] = _day_start(form["valid_from"], zone)
        data["valid_until"] = _day_start(form["valid_until"], zone, after=True)
    return data


def _change_input(form: MultiDict[str, str]) -> dict[str, Any]:
    """What the change form sent, typed for TemplateChangeIn: a blank stock is no limit, a blank
    reminder or description leaves it as it is. The pause and resume buttons send only status."""
    data: dict[str, Any] = {}
    if form.get("status", "").strip():
        data["status"] = form["status"].strip()
    if "stock" in form:
        raw = form["stock"].strip()
        data.update({"stock": _int(raw)} if raw else {"unlimited_stock": True})
    for name in ("remind_days_before", "description"):
        raw = form.get(name, "").strip()
        if raw:
            data[name] = _int(raw) if name == "remind_days_before" else raw
    return data


def _customer_id(db_session: Session, by: str, who: str) -> int:
    """The customer named by id, openid or phone, following merges (tagging.orders.find_customer)."""

    if by not in FIND_BY:
        raise InvalidInput("by", _("选择查找方式：顾客编号、openid 或手机号"))
    if not who:
        raise InvalidInput("who", _("输入顾客的编号、openid 或手机号"))
    if by == "customer_id":
        customer = resolve(db_session=db_session, customer_id=int(who)) if re.fullmatch(r"\d{1,12}", who) else None
        if customer is None:
            raise InvalidInput("who", _("没有顾客 %(who)s", who=who) if who.isdecimal() else _("顾客编号是数字"))
        return customer.id
    try:
        ref = CustomerRefIn(**{by: who})
    except ValidationError as exc:
        raise InvalidInput("who", exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    try:
        return find_customer(db_session=db_session, ref=ref).customer_id
    except UnknownCustomer as exc:
        raise InvalidInput("who", exc.reason) from None


def _int(raw: str) -> int | str:
    """A whole number, or the text as typed so validation names the field."""
    return int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else raw


def _day_start(raw: str, zone: ZoneInfo, *, after: bool = False) -> datetime | str | None:
    """Midnight of the typed day (``after``: of the day after it) in the brand's zone."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return raw  # refused by validation, naming the field
    return datetime.combine(day + timedelta(days=1 if after else 0), time(), zone)


def _day_range(typed: dict[str, str], today: date) -> tuple[date, date]:
    try:
        last = date.fromisoformat(typed["to"]) if typed["to"] else today
    except ValueError:
        raise InvalidInput("to", "must be a date, YYYY-MM-DD") from None
    try:
        first = date.fromisoformat(typed["from"]) if typed["from"] else last - timedelta(days=console_views.STATS_DAYS - 1)
    except ValueError:
        raise InvalidInput("from", "must be a date, YYYY-MM-DD") from None
    if first > last:
        raise InvalidInput("to", "must not be before from")
    if (last - first).days >= stats.MAX_DAYS:
        raise InvalidInput("from", f"at most {stats.MAX_DAYS} days before to")
    return first, last


def _errors(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, template_service.UnknownStores):
        return [{"field": "stores", "message": reader_message(str(exc))}]
    return form_errors(exc)
