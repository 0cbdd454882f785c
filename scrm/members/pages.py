"""Console pages for membership (会员, SPEC §11, §13), for admins and managers: the members (by
phone, member number, level and when they joined), one member (card, level progress, points
available / frozen / expiring, the ledger in words, check-ins and exchanges) with a manual grant
or deduction, the levels (会员等级) with how many members hold each, and the points mall (积分商城).

A manual change is two steps: the form (with a key drawn when it is drawn) shows a confirmation
stating the consequence ("将给 张三 增加 100 积分"), and only the confirmation writes, once per
key: a double submit finds the first entry and writes nothing. Post/redirect/get; refused input
re-renders the form with the errors and what was typed, and changes nothing (409/422).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from scrm.customers.models import Customer
from scrm.errors import InvalidInput, validated
from scrm.members import console_views as views
from scrm.members import console_forms as forms
from scrm.members import grants, level_admin, ledger
from scrm.members import mall as mall_service
from scrm.members.level_schemas import parse_level, zhe
from scrm.members.levels import ensure_levels
from scrm.members.models import MallItem, MemberLevel
from scrm.members.schemas import MallItemChangeIn, MallItemIn
from scrm.texts import customer_name, local_time
from scrm.users.models import MANAGERS
from scrm.web.api import current_runtime, path_ids_fit
from scrm.web.auth import current_caller, require_role
from scrm.web.forms import form_errors, form_fields, not_found_as_404

member_console = Blueprint("member_console", __name__, template_folder="templates", url_prefix="/console")
path_ids_fit(member_console, customer_id=Customer.id, level_id=MemberLevel.id, item_id=MallItem.id)

MAX_PAGE = 100_000
LEVEL_FIELDS = ("name", "threshold", "discount_zhe", "points_multiplier", "benefits", "level_up_template_id",
                "birthday_template_id")
# What moved a member's points, as the ledger names it (scrm/members/models.py ENTRY_KINDS).
KIND_WORDS = {
    "order": _l("订单获得"), "checkin": _l("签到"), "grant": _l("手动发放"), "refund_return": _l("退款退回"),
    "product": _l("扫码积分"), "exchange": _l("积分兑换"), "order_spend": _l("订单抵扣"),
    "refund_reverse": _l("退款扣回"), "expire": _l("过期"), "deduct": _l("手动扣除"),
}
COUPON_STATUS_WORDS = {"issued": _l("未使用"), "redeemed": _l("已使用"), "voided": _l("已作废"), "expired": _l("已过期")}
ITEM_STATUS_WORDS = {"active": _l("上架中"), "paused": _l("已暂停")}
LEVEL_REFUSALS = {
    "lowest_not_zero": _l("最低等级的成长值门槛必须是 0"),
    "threshold_order": _l("门槛须高于下一级、低于上一级：%(below)s – %(above)s"),
    "threshold_taken": _l("已有等级用这个门槛：%(other)s"),
    "name_taken": _l("已有同名等级：%(name)s"),
    "template": _l("请选择一张启用中的优惠券"),
    "too_many": _l("最多 20 个等级"),
}
_404_when_missing = not_found_as_404(level_admin.LevelNotFound)
_404_when_no_item = not_found_as_404(mall_service.ItemNotFound)
ITEM_FIELDS = ("name", "description", "template_id", "points", "stock", "per_member_limit", "min_level_id", "status",
               "sort")
ITEM_REFUSALS = {"stock_below_exchanged": _l("库存不能少于已兑换的 %(exchanged)s 件"),
                 "unknown_template": _l("请选择一张优惠券"), "unknown_level": _l("没有这个等级")}


class InvalidItem(InvalidInput):
    """Bad points-mall item input from the console's form."""


# ---- members -------------------------------------------------------------------------------


@member_console.get("/members")
@require_role(*MANAGERS)
def members():  # noqa: ANN201
    runtime = current_runtime()
    typed = form_fields(request.args, *forms.FILTER_FIELDS)
    chosen, errors = forms.member_filter(typed)
    page = _page(request.args.get("page"))
    with runtime.transaction() as db_session:
        levels = ensure_levels(db_session=db_session, config=runtime.config, at=runtime.clock.now())
        level_choices = [(lv.id, lv.name) for lv in levels]
        rows, total = ([], 0) if errors else views.member_rows(
            db_session=db_session, config=runtime.config, at=runtime.clock.now(), chosen=chosen,
            limit=views.PAGE, offset=(page - 1) * views.PAGE)
    return render_template("members/members.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // views.PAGE)), typed=typed, errors=errors,
                           filtered=any(typed.values()), levels=level_choices, day=_local_day,
                           caller=current_caller()), 422 if errors else 200


@member_console.get("/members/<int:customer_id>")
@require_role(*MANAGERS)
def member(customer_id: int):  # noqa: ANN201
    return _member_page(customer_id, form={"amount": "", "reason": "", "key": _new_key()})


@member_console.post("/members/<int:customer_id>/points")
@require_role(*MANAGERS)
def change_points(customer_id: int):  # noqa: ANN201
    """Step 1 (no ``confirm``): check the form and show what it will do. Step 2: do it, once."""
    runtime, caller = current_runtime(), current_caller()
    form = form_fields(request.form, "amount", "reason", "key")
    try:
        change_in = grants.parse_points_change(form)
    except InvalidInput as exc:
        return _member_page(customer_id, form=form, errors=form_errors(exc), status=422)
    if request.form.get("confirm") != "1":
        with runtime.transaction() as db_session:
            shown = views.member_page(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                      at=runtime.clock.now(), per_page=1)
            if shown is None:
                abort(404)
        return render_template("members/points_confirm.html", member=shown, change=change_in,
                               name=_name(shown), caller=caller)
    try:
        with runtime.transaction() as db_session:
            posted = grants.change_points(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                          change_in=change_in, by=caller.name, at=runtime.clock.now())
    except ledger.NotAMember:
        abort(404)
    except ledger.NotEnoughPoints as exc:
        message = _("可用积分不足：只有 %(available)s 积分可扣，没有扣除。", available=exc.details["available"])
        return _member_page(customer_id, form=form, errors=[{"field": "amount", "message": message}], status=409)
    except ledger.KeyReused:
        message = _("这张表单已用于另一次改动，请刷新页面重新填写。")
        return _member_page(customer_id, form={**form, "key": _new_key()},
                            errors=[{"field": "", "message": message}], status=409)
    if not posted.created:
        flash(_("这次改动已经记过了，没有重复记入。"))
    elif change_in.amount > 0:
        flash(_("已增加 %(n)s 积分。", n=change_in.amount))
    else:
        flash(_("已扣除 %(n)s 积分。", n=-change_in.amount))
    return redirect(url_for(".member", customer_id=customer_id), code=303)


# ---- levels --------------------------------------------------------------------------------


@member_console.get("/member-levels")
@require_role(*MANAGERS)
def levels():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        ensure_levels(db_session=db_session, config=runtime.config, at=runtime.clock.now())
        rows = views.level_rows(db_session=db_session)
    return render_template("members/levels.html", rows=rows, zhe=zhe, config=runtime.config.members,
                           caller=current_caller())


@member_console.get("/member-levels/new")
@require_role(*MANAGERS)
def new_level():  # noqa: ANN201
    return _level_form(level=None, form={"discount_zhe": "10", "points_multiplier": "1", "threshold": ""})


@member_console.post("/member-levels")
@require_role(*MANAGERS)
def create_level():  # noqa: ANN201
    runtime = current_runtime()
    form = form_fields(request.form, *LEVEL_FIELDS)
    try:
        with runtime.transaction() as db_session:
            made = level_admin.create_level(db_session=db_session, config=runtime.config,
                                            level_in=parse_level(forms.level_input(form)), at=runtime.clock.now())
            name = made.name
    except (InvalidInput, level_admin.LevelRefused) as exc:
        return _level_form(level=None, form=form, errors=_level_errors(exc), status=422)
    flash(_("等级 %(name)s 已添加。", name=name))
    return redirect(url_for(".levels"), code=303)


@member_console.get("/member-levels/<int:level_id>")
@require_role(*MANAGERS)
@_404_when_missing
def edit_level(level_id: int):  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        level = level_admin.get_level(db_session=db_session, level_id=level_id)
        form = {"name": level.name, "threshold": str(level.threshold), "discount_zhe": zhe(level.discount) or "10",
                "points_multiplier": f"{level.points_multiplier.normalize():f}",
                "benefits": "\n".join(str(b) for b in level.benefits or []),
                "level_up_template_id": str(level.level_up_template_id or ""),
                "birthday_template_id": str(level.birthday_template_id or "")}
        shown = {"id": level.id, "name": level.name}
    return _level_form(level=shown, form=form)


@member_console.post("/member-levels/<int:level_id>")
@require_role(*MANAGERS)
@_404_when_missing
def change_level(level_id: int):  # noqa: ANN201
    runtime = current_runtime()
    form = form_fields(request.form, *LEVEL_FIELDS)
    try:
        with runtime.transaction() as db_session:
            level_admin.update_level(db_session=db_session, config=runtime.config, level_id=level_id,
                                     level_in=parse_level(forms.level_input(form)), at=runtime.clock.now())
    except (InvalidInput, level_admin.LevelRefused) as exc:
        with runtime.transaction() as db_session:
            level = level_admin.get_level(db_session=db_session, level_id=level_id)
            shown = {"id": level.id, "name": level.name}
        return _level_form(level=shown, form=form, errors=_level_errors(exc), status=422)
    flash(_("等级已保存。"))
    return redirect(url_for(".levels"), code=303)


@member_console.post("/member-levels/<int:level_id>/delete")
@require_role(*MANAGERS)
@_404_when_missing
def delete_level(level_id: int):  # noqa: ANN201
    runtime = current_runtime()
    try:
        with runtime.transaction() as db_session:
            name = level_admin.delete_level(db_session=db_session, config=runtime.config, level_id=level_id,
                                            at=runtime.clock.now())
    except level_admin.LevelInUse as exc:
        if exc.details.get("reason") == "lowest":
            flash(_("不能删除最低等级：新会员都从这一级开始。"))
        else:
            flash(_("不能删除：还有 %(n)s 位会员在这个等级。等他们升到别的等级，或先把这一级的门槛改到合适的位置。",
                    n=exc.details["members"]))
        return redirect(url_for(".levels"), code=303)
    flash(_("等级 %(name)s 已删除。", name=name))
    return redirect(url_for(".levels"), code=303)


# ---- the points mall ------------------------------------------------------------------------


@member_console.get("/points-mall")
@require_role(*MANAGERS)
def mall():  # noqa: ANN201
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        rows = mall_service.list_items(db_session=db_session, at=runtime.clock.now(), include_paused=True)
    return render_template("members/mall.html", rows=rows, status_words=ITEM_STATUS_WORDS, caller=current_caller())


@member_console.get("/points-mall/new")
@require_role(*MANAGERS)
def new_item():  # noqa: ANN201
    return _item_form(item=None, form={"status": "active", "sort": "0"})


@member_console.post("/points-mall")
@require_role(*MANAGERS)
def create_item():  # noqa: ANN201
    runtime = current_runtime()
    form = form_fields(request.form, *ITEM_FIELDS)
    try:
        item_in = validated(MallItemIn, forms.item_input(form), error=InvalidItem, what="an item")
        with runtime.transaction() as db_session:
            mall_service.create_item(db_session=db_session, item_in=item_in, at=runtime.clock.now())
    except (InvalidInput, mall_service.ItemRefused) as exc:
        return _item_form(item=None, form=form, errors=_item_errors(exc), status=422)
    flash(_("商品 %(name)s 已上架。", name=item_in.name) if item_in.status == "active"
          else _("商品 %(name)s 已保存（暂停中）。", name=item_in.name))
    return redirect(url_for(".mall"), code=303)


@member_console.get("/points-mall/<int:item_id>")
@require_role(*MANAGERS)
@_404_when_no_item
def edit_item(item_id: int):  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        item = mall_service.get_item(db_session=db_session, item_id=item_id)
        form = {"name": item.name, "description": item.description or "", "template_id": str(item.template_id),
                "points": str(item.points), "stock": "" if item.stock is None else str(item.stock),
                "per_member_limit": "" if item.per_member_limit is None else str(item.per_member_limit),
                "min_level_id": str(item.min_level_id or ""), "status": item.status, "sort": str(item.sort)}
        shown = {"id": item.id, "name": item.name, "exchanged": item.exchanged_count}
    return _item_form(item=shown, form=form)


@member_console.post("/points-mall/<int:item_id>")
@require_role(*MANAGERS)
@_404_when_no_item
def change_item(item_id: int):  # noqa: ANN201
    runtime = current_runtime()
    form = form_fields(request.form, *ITEM_FIELDS)
    try:
        changes = validated(MallItemChangeIn, forms.item_input(form), error=InvalidItem, what="an item")
        with runtime.transaction() as db_session:
            mall_service.update_item(db_session=db_session, item_id=item_id, changes=changes, at=runtime.clock.now())
    except (InvalidInput, mall_service.ItemRefused) as exc:
        with runtime.transaction() as db_session:
            item = mall_service.get_item(db_session=db_session, item_id=item_id)
            shown = {"id": item.id, "name": item.name, "exchanged": item.exchanged_count}
        return _item_form(item=shown, form=form, errors=_item_errors(exc), status=422)
    flash(_("商品已保存。"))
    return redirect(url_for(".mall"), code=303)


@member_console.post("/points-mall/<int:item_id>/status")
@require_role(*MANAGERS)
@_404_when_no_item
def toggle_item(item_id: int):  # noqa: ANN201
    """Pause (暂停: members see it no more) or resume (恢复) an item."""
    runtime = current_runtime()
    status = request.form.get("status", "")
    if status not in ITEM_STATUS_WORDS:
        abort(422)
    with runtime.transaction() as db_session:
        item = mall_service.update_item(db_session=db_session, item_id=item_id,
                                        changes=MallItemChangeIn(status=status), at=runtime.clock.now())
        name = item.name
    flash(_("商品 %(name)s 已暂停，会员暂时看不到它。", name=name) if status == "paused"
          else _("商品 %(name)s 已恢复上架。", name=name))
    return redirect(url_for(".mall"), code=303)


# ---- helpers -------------------------------------------------------------------------------


def _member_page(customer_id: int, *, form: dict[str, str], errors: list | None = None, status: int = 200):  # noqa: ANN202
    runtime = current_runtime()
    page = _page(request.args.get("page"))
    with runtime.transaction() as db_session:
        shown = views.member_page(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                  at=runtime.clock.now(), page=page)
    if shown is None:
        abort(404)
    pages = max(1, -(-shown.entries_total // views.LEDGER_PAGE))
    return render_template("members/member.html", member=shown, name=_name(shown), form=form, errors=errors or [],
                           page=page, pages=pages, kind_words=KIND_WORDS, coupon_words=COUPON_STATUS_WORDS,
                           zhe=zhe, local=_local, caller=current_caller()), status


def _level_form(*, level: dict[str, Any] | None, form: dict[str, str], errors: list | None = None, status: int = 200):  # noqa: ANN202
    keep = tuple(int(form.get(f) or 0) or None for f in ("level_up_template_id", "birthday_template_id")
                 if (form.get(f) or "").isdigit() and len(form.get(f) or "") < 10)
    with current_runtime().transaction() as db_session:
        templates = views.template_choices(db_session=db_session, keep=keep)
    return render_template("members/level_form.html", level=level, form=form, errors=errors or [],
                           templates=templates, caller=current_caller()), status


def _item_form(*, item: dict[str, Any] | None, form: dict[str, str], errors: list | None = None, status: int = 200):  # noqa: ANN202
    runtime = current_runtime()
    keep = (int(form["template_id"]),) if (form.get("template_id") or "").isdigit() and len(form["template_id"]) < 10 \
        else ()
    with runtime.transaction() as db_session:
        templates = views.template_choices(db_session=db_session, keep=keep)
        levels = [(lv.id, lv.name) for lv in ensure_levels(db_session=db_session, config=runtime.config,
                                                            at=runtime.clock.now())]
    return render_template("members/item_form.html", item=item, form=form, errors=errors or [], templates=templates,
                           levels=levels, status_words=ITEM_STATUS_WORDS, caller=current_caller()), status


def _item_errors(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, mall_service.ItemRefused) and exc.code in ITEM_REFUSALS:
        words = ITEM_REFUSALS[exc.code] % {"exchanged": exc.details.get("exchanged", "")}
        return [{"field": str(exc.details.get("field", "")), "message": str(words)}]
    return form_errors(exc)


def _level_errors(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, level_admin.LevelRefused) and exc.details.get("reason") in LEVEL_REFUSALS:
        words = LEVEL_REFUSALS[exc.details["reason"]] % {
            "below": exc.details.get("below") or _("无"), "above": exc.details.get("above") or _("无"),
            "other": exc.details.get("other", ""), "name": exc.details.get("name", "")}
        return [{"field": str(exc.details.get("field", "")), "message": str(words)}]
    return form_errors(exc)


def _name(shown: views.MemberPage) -> str:
    return customer_name(str(get_locale() or "zh_CN"), shown.customer_id, shown.nickname)


def _new_key() -> str:
    return secrets.token_urlsafe(16)


def _local(at) -> str:  # noqa: ANN001
    return local_time(at, current_runtime().config.brand.zone) if at is not None else ""


def _local_day(at) -> str:  # noqa: ANN001
    return _local(at)[:10]


def _page(raw: str | None) -> int:
    """A hand-edited ?page= is a page that does not exist, never an error."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_PAGE else 1

