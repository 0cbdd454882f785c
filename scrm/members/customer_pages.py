"""The customer's member page (会员中心, /c/member, SPEC §13), phone-first, in ``brand.locale``.

Signed in the way the coupon page is, with the same sign-in (scrm/coupons/customer_pages.py):
the signed link the account answers the menu key ``members.menu_key`` and the keywords
``members.keywords`` with (scrm/members/links.py), swapped at once for the plain /c/member; or,
with ``coupons.mp_oauth`` on, the account's web sign-in, which comes back here.

- Not a member: the join form. 获取验证码 sends a 6-digit code by SMS (scrm/members/sms.py,
  played by the sandbox in sandbox mode), at most ``security.rate_limits.sms_per_phone`` per
  number and ``sms_per_ip`` per address (scrm/web/limits.py: 429 with ``Retry-After``); the
  code, the optional birthday and the agreement make the customer a member (scrm/flows.py
  ``join_member``, which merges other customers with the phone).
- A member: the card (level, number, the dynamic member QR, redrawn every minute, the level's
  discount and benefits), progress to the next level, points (available, frozen, expiring),
  check-in, the points mall (each exchange carries a key drawn with the page, so a double tap
  exchanges once) and the history.

The page works without JavaScript (every action is a form); with it, the code button counts
down and the member QR refreshes.
"""

from __future__ import annotations

import io
import secrets
from typing import TYPE_CHECKING

import segno
from flask import Blueprint, flash, get_flashed_messages, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from limits import parse_many
from pydantic import ValidationError

from scrm import flows
from scrm.coupons import wallet
from scrm.coupons.customer_pages import remember_customer, signed_in_customer
from scrm.customers import service as customers
from scrm.customers.schemas import mask_phone
from scrm.members import joining, ledger, mall
from scrm.members.card_views import member_card
from scrm.members.join_schemas import CodeRequest, ExchangeForm, JoinForm, birthday_is_real
from scrm.members.links import MemberLinkRefused, read_member_link
from scrm.members.member_qr import member_qr_token
from scrm.members.service import PhoneTaken, get_member
from scrm.members.sms import SmsRefused, SmsSender
from scrm.texts import local_time
from scrm.web.api import current_runtime
from scrm.web.errors import NotFound

if TYPE_CHECKING:
    from scrm.runtime import Runtime

member_pages = Blueprint("member_pages", __name__, template_folder="templates")

QR_SCALE = 8
EXCHANGED = "member_exchanged"  # flashed: the coupon id an exchange gave


@member_pages.context_processor
def _brand() -> dict[str, object]:
    config = current_runtime().config
    return {"brand": config.brand, "local_time": lambda at: local_time(at, config.brand.zone)}


@member_pages.after_request
def _private(response):  # noqa: ANN001, ANN202
    """A phone is lent and shared: no member card stays in its cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


@member_pages.get("/c/member")
def member_page():  # noqa: ANN201
    runtime = current_runtime()
    if "t" in request.args:
        return _sign_in_by_link(runtime, request.args["t"])
    return _page(runtime)


@member_pages.post("/c/member/code")
def send_code():  # noqa: ANN201
    """Send a verification code to the phone typed in the join form."""
    runtime = current_runtime()
    customer_id = _customer(runtime)
    if customer_id is None:
        if _wants_json():
            return jsonify(error="not_signed_in", message=_("请在公众号里发送“会员”，点开收到的链接")), 401
        return _no_session(runtime)
    try:
        phone = CodeRequest.model_validate(request.form.to_dict()).phone
    except ValidationError:
        return _answer(runtime, 422, code="invalid_phone", error=_("请输入正确的手机号（11位）"), form=request.form)
    try:
        with runtime.transaction() as db_session:
            issued = joining.new_code(db_session=db_session, config=runtime.config, customer_id=customer_id,
                                      phone=phone, at=runtime.clock.now())
    except joining.AlreadyMember:
        return redirect(url_for("member_pages.member_page"), 303)
    except PhoneTaken:
        return _answer(runtime, 409, code="phone_taken", error=_("这个手机号已被其他会员使用"), form=request.form)
    minutes = runtime.config.members.sms.code_minutes
    try:  # outside the transaction: the SMS service may be slow, and it is not ours to roll back
        SmsSender.from_config(runtime.config, clock=runtime.clock).send_code(phone, issued.code, minutes)
    except SmsRefused as exc:
        with runtime.transaction() as db_session:
            joining.discard_code(db_session=db_session, code_id=issued.id, at=runtime.clock.now())
        words = _("发送太频繁，请稍后再试") if exc.too_often else _("短信没有发出，请稍后再试")
        return _answer(runtime, 503 if exc.code == "unavailable" else 422, code="sms_not_sent", error=words,
                       form=request.form)
    notice = _("验证码已发送至 %(phone)s，%(minutes)s 分钟内有效", phone=mask_phone(phone), minutes=minutes)
    return _answer(runtime, 200, notice=notice, form=request.form, sent=True)


@member_pages.post("/c/member/join")
def join():  # noqa: ANN201
    runtime = current_runtime()
    customer_id = _customer(runtime)
    if customer_id is None:
        return _no_session(runtime)
    try:
        form = JoinForm.model_validate(request.form.to_dict())
    except ValidationError as exc:
        return _answer(runtime, 422, error=_join_form_error(exc), form=request.form)
    today = runtime.clock.now().astimezone(runtime.config.brand.zone).date()
    if not birthday_is_real(form.birthday, today):
        return _answer(runtime, 422, error=_("请填写正确的生日"), form=request.form)
    try:
        with runtime.transaction() as db_session:
            joined = flows.join_member(runtime=runtime, db_session=db_session, customer_id=customer_id,
                                       phone=form.phone, code=form.code, birthday=form.birthday,
                                       at=runtime.clock.now())
    except joining.AlreadyMember:
        return redirect(url_for("member_pages.member_page"), 303)
    except PhoneTaken:
        return _answer(runtime, 409, error=_("这个手机号已被其他会员使用"), form=request.form)
    if joined.refused is not None:  # the try it spent is committed
        return _answer(runtime, 422, error=_code_refusal(joined.refused), form=request.form)
    flash(_("欢迎加入会员！"), "notice")
    return redirect(url_for("member_pages.member_page"), 303)


@member_pages.post("/c/member/checkin")
def check_in():  # noqa: ANN201
    runtime = current_runtime()
    customer_id = _customer(runtime)
    if customer_id is None:
        return _no_session(runtime)
    try:
        with runtime.transaction() as db_session:
            done = flows.check_in(runtime=runtime, db_session=db_session, customer_id=customer_id,
                                  at=runtime.clock.now())
    except ledger.NotAMember:
        return redirect(url_for("member_pages.member_page"), 303)
    if done.created:
        words = _("签到成功，获得 %(points)s 积分，已连续签到 %(days)s 天", points=done.points,
                  days=done.streak)
    else:
        words = _("今天已经签到过了，明天再来")
    flash(words, "notice")
    return redirect(url_for("member_pages.member_page") + "#checkin", 303)


@member_pages.post("/c/member/exchange")
def exchange():  # noqa: ANN201
    """Points for a mall item; the form's key makes a double tap one exchange."""
    runtime = current_runtime()
    customer_id = _customer(runtime)
    if customer_id is None:
        return _no_session(runtime)
    try:
        form = ExchangeForm.model_validate(request.form.to_dict())
    except ValidationError:
        return _answer(runtime, 422, error=_("请刷新页面后再兑换"))
    try:
        with runtime.transaction() as db_session:
            done = mall.exchange(runtime=runtime, db_session=db_session, customer_id=customer_id,
                                 item_id=form.item_id, key=form.key, at=runtime.clock.now())
    except ledger.NotAMember:
        return redirect(url_for("member_pages.member_page"), 303)
    except ledger.NotEnoughPoints:
        return _answer(runtime, 409, error=_("积分不足，暂时不能兑换"))
    except mall.ItemNotFound:
        return _answer(runtime, 404, error=_("没有这个礼品，请刷新页面"))
    except ledger.KeyReused:
        return _answer(runtime, 409, error=_("请刷新页面后再兑换"))
    except mall.ItemUnavailable as exc:
        return _answer(runtime, 409, error=_unavailable(exc.code))
    flash(str(done.coupon_id), EXCHANGED)
    return redirect(url_for("member_pages.member_page") + "#exchanged", 303)


@member_pages.get("/c/member/qr.png")
def member_qr():  # noqa: ANN201
    """The dynamic member QR (会员码): a token naming the member, good ``members.qr_minutes``."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        customer_id = signed_in_customer(runtime, db_session)
        member = customer_id and get_member(db_session=db_session, customer_id=customer_id)
    if not member:
        raise NotFound("no member card here")
    buffer = io.BytesIO()
    segno.make_qr(member_qr_token(runtime, customer_id), error="m").save(buffer, kind="png", scale=QR_SCALE, border=4)
    return buffer.getvalue(), 200, {"Content-Type": "image/png"}


# ---- helpers -------------------------------------------------------------------------------


def _page(runtime: Runtime, status: int = 200, *, error: str | None = None, notice: str | None = None,
          form=None, sent: bool = False):  # noqa: ANN001, ANN202
    with runtime.transaction() as db_session:
        customer_id = signed_in_customer(runtime, db_session)
        if customer_id is None:
            return _no_session(runtime)
        now = runtime.clock.now()
        card = member_card(db_session=db_session, config=runtime.config, customer_id=customer_id, at=now)
        exchanged = [wallet.card_of(db_session=db_session, customer_id=customer_id, coupon_id=int(coupon_id),
                                    now=now, zone=runtime.config.brand.zone, locale=runtime.config.brand.locale)
                     for coupon_id in get_flashed_messages(category_filter=[EXCHANGED])]
    notices = get_flashed_messages(category_filter=["notice"])
    if notice:
        notices.append(notice)
    if card is None:
        return render_template("members/customer/join.html", error=error, notices=notices, form=form or {},
                               sent=sent, minutes=runtime.config.members.sms.code_minutes), status
    keys = {item.id: secrets.token_urlsafe(18) for item in card.items}
    return render_template("members/customer/card.html", card=card, error=error, notices=notices,
                           exchanged=[c for c in exchanged if c is not None], keys=keys,
                           qr_minutes=runtime.config.members.qr_minutes), status


def _answer(runtime: Runtime, status: int, *, code: str = "refused", error: str | None = None,
            notice: str | None = None, form=None, sent: bool = False):  # noqa: ANN001, ANN202
    """A form's outcome: JSON for the page's script (``Accept: application/json``), else the page."""
    if _wants_json():
        body = {"sent": sent, "message": notice} if status == 200 else {"error": code, "message": error}
        if sent:
            body["seconds"] = _resend_seconds(runtime)
        return jsonify(body), status
    return _page(runtime, status, error=error, notice=notice, form=form, sent=sent)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _resend_seconds(runtime: Runtime) -> int:
    """How long the button waits before another code: the per-phone limit's shortest window."""
    per_phone = parse_many(runtime.config.security.rate_limits.sms_per_phone)
    windows = [limit.get_expiry() // limit.amount for limit in per_phone]
    return max(min(windows), 30)


def _customer(runtime: Runtime) -> int | None:
    with runtime.transaction() as db_session:
        return signed_in_customer(runtime, db_session)


def _sign_in_by_link(runtime: Runtime, token: str):  # noqa: ANN202
    try:
        customer_id = read_member_link(runtime, token)
        with runtime.transaction() as db_session:
            customer = customers.resolve(db_session=db_session, customer_id=customer_id)
            if customer is None:
                raise MemberLinkRefused("invalid")
            customer_id = customer.id
    except MemberLinkRefused as exc:
        message = _("这个链接已过期，请在公众号里再发一次“会员”") if exc.reason == "too_old" else _("这个链接无效")
        return _message(_("链接无效"), message, 403)
    remember_customer(runtime, customer_id)
    return redirect(url_for("member_pages.member_page"))


def _no_session(runtime: Runtime):  # noqa: ANN202
    if runtime.config.coupons.mp_oauth:
        return redirect(url_for("customer_pages.oauth_start", next="/c/member"))
    return _message(_("会员中心"), _("请在公众号里发送“会员”，点开收到的链接"), 200)


def _message(title: str, message: str, status: int):  # noqa: ANN202
    return render_template("members/customer/message.html", title=title, message=message), status


def _join_form_error(exc: ValidationError) -> str:
    field = str(exc.errors()[0]["loc"][0]) if exc.errors() and exc.errors()[0]["loc"] else ""
    return {
        "phone": _("请输入正确的手机号（11位）"),
        "code": _("请输入短信里的6位验证码"),
        "birthday": _("请填写正确的生日"),
        "agree": _("请先阅读并同意会员协议"),
    }.get(field, _("请检查填写的内容"))


def _code_refusal(check: joining.CodeCheck) -> str:
    if check.reason == "wrong":
        return _("验证码不正确，还可以再试 %(n)s 次", n=check.tries_left)
    if check.reason == "expired":
        return _("验证码已过期，请重新获取")
    if check.reason == "too_many_tries":
        return _("验证码错误次数太多，请重新获取")
    return _("请先获取验证码")


def _unavailable(code: str) -> str:
    return {
        "item_paused": _("这个礼品暂停兑换"),
        "out_of_stock": _("这个礼品已兑完"),
        "limit_reached": _("这个礼品你已兑换到上限"),
        "level_required": _("你的会员等级还不能兑换这个礼品"),
        "template_unavailable": _("这个礼品暂时不能兑换"),
    }.get(code, _("这个礼品暂时不能兑换"))
