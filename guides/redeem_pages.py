"""The guide's redeem page (核销 = redeem) on the phone: scan the customer's coupon QR or type its
code, see the coupon and the customer (and their membership: level, points, benefits), confirm,
see the result. And the member QR (会员码, SPEC §13) at the counter: ``GET /m/member`` scans
(the same scanner) or takes a typed or pasted token; ``GET /m/member/open?token=`` opens that
member's profile if they are the guide's customer, else says why not (not yours; expired: the
customer refreshes the card; not a member QR).

- ``GET /m/redeem``: the code box, and "scan" with the phone browser's camera (jsQR, vendored in
  scrm/static/jsQR.js); inside WeCom with ``guides.jssdk`` on, WeCom's own scanner
  (``wx.scanQRCode``, guides/jssdk.py).
- ``GET /m/redeem/check?code=``: a preview (``redemption.find``), nothing written.
- ``POST /m/redeem``: the redemption, in one transaction owned here. The database lets one
  confirmation through; a reload or a second phone gets ``already_redeemed``, saying when and
  by whom. Every attempt is in ``coupon_attempts``.

A guide redeems only in their own store; the pages are a guide's own, like the rest of /m/.
"""

from __future__ import annotations

import logging

from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from guides import jssdk, phone_pages, roster
from guides import redeem_views as views
from scrm.customers import service as customers
from scrm.members.member_qr import MemberQrRefused, read_member_qr
from scrm.coupons import redemption
from scrm.coupons.redemption import CODE_CHARS, Counter
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.wechat.errors import RetryLater, WeChatError

log = logging.getLogger(__name__)

redeem_pages = Blueprint("redeem_pages", __name__, template_folder="templates")
UNKNOWN = ("bad_code", "not_found")  # nothing to show but the message: type it again
TOKEN_CHARS = 300
# Why a member QR opens nobody, in the guide's words.
MEMBER_QR_WORDS = {
    "invalid": _l("这不是会员码：请扫顾客会员卡上的二维码。"),
    "expired": _l("会员码已过期，请顾客刷新"),
    "not_yours": _l("不是您的顾客：这位会员没有绑定您。"),
    "unknown": _l("没有这位会员。"),
}

phone_pages.house_rules(redeem_pages)  # WeCom sign-in, no cache, guides only, as every /m/ page


@redeem_pages.get("/m/redeem")
@require_role("guide")
def start():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        phone_pages._my_guide(db_session)  # noqa: SLF001
    return _code_page()


@redeem_pages.get("/m/redeem/check")
@require_role("guide")
def check():  # noqa: ANN201
    runtime, typed = current_runtime(), _typed(request.args)
    zone = runtime.config.brand.zone
    with runtime.transaction() as db_session:
        counter = _counter(db_session)
        outcome = redemption.find(runtime=runtime, db_session=db_session, code=typed, counter=counter)
        if outcome.result in UNKNOWN:
            return _code_page(typed=typed, refused=views.verdict(db_session, outcome, zone), status=422)
        coupon = views.coupon_shown(db_session, outcome.coupon_id, zone)
        shown = views.verdict(db_session, outcome, zone)
        member = views.coupon_member(db_session, runtime.config, outcome.coupon_id, runtime.clock.now())
    return render_template("guide/redeem_check.html", coupon=coupon, verdict=shown, member=member, nav="redeem")


@redeem_pages.post("/m/redeem")
@require_role("guide")
def confirm():  # noqa: ANN201
    runtime, typed = current_runtime(), _typed(request.form)
    zone = runtime.config.brand.zone
    with runtime.transaction() as db_session:
        counter = _counter(db_session)
        outcome = redemption.redeem(runtime=runtime, db_session=db_session, code=typed, counter=counter)
        coupon = views.coupon_shown(db_session, outcome.coupon_id, zone) if outcome.coupon_id else None
        shown = views.verdict(db_session, outcome, zone)
        member = views.coupon_member(db_session, runtime.config, outcome.coupon_id,
                                     runtime.clock.now()) if outcome.coupon_id else None
    status = 200 if outcome.ok else 422 if outcome.result in UNKNOWN else 409
    return render_template("guide/redeem_result.html", coupon=coupon, verdict=shown, typed=typed, member=member,
                           nav="redeem"), status


@redeem_pages.get("/m/member")
@require_role("guide")
def member_scan():  # noqa: ANN201
    with current_runtime().transaction() as db_session:
        phone_pages._my_guide(db_session)  # noqa: SLF001
    return _member_scan_page()


@redeem_pages.get("/m/member/open")
@require_role("guide")
def open_member():  # noqa: ANN201
    """A scanned or typed member QR → that member's profile, if they are this guide's customer."""
    runtime, typed = current_runtime(), request.args.get("token", "").strip()[:TOKEN_CHARS]
    try:
        customer_id = read_member_qr(runtime, _member_token(typed))
    except MemberQrRefused as exc:
        return _member_scan_page(typed=typed, refused=exc.reason, status=422)
    with runtime.transaction() as db_session:
        phone_pages._my_guide(db_session)  # noqa: SLF001
        found = customers.resolve(db_session=db_session, customer_id=customer_id)
        if found is None:
            return _member_scan_page(refused="unknown", status=404)
        if not roster.may_see(db_session=db_session, caller=current_caller(), customer_id=found.id):
            return _member_scan_page(refused="not_yours", status=403)
    return redirect(url_for("guide_pages.customer", customer_id=found.id), code=303)


def _member_token(typed: str) -> str:
    """The token a scanned link carries (``?token=`` or ``?m=``), or what was typed."""
    if "?" in typed:
        query = parse_qs(urlsplit(typed).query)
        for name in ("token", "m"):
            if query.get(name):
                return query[name][0]
    return typed


def _member_scan_page(*, typed: str = "", refused: str | None = None, status: int = 200):  # noqa: ANN202
    runtime = current_runtime()
    wx = _wx_config(runtime) if runtime.config.guides.jssdk else None
    return render_template("guide/member_scan.html", typed=typed, refused=refused,
                           refused_words=MEMBER_QR_WORDS.get(refused or ""), wx=wx, wx_script=jssdk.SCRIPT,
                           nav="customers"), status


def _counter(db_session) -> Counter:  # noqa: ANN001
    """The signed-in guide at their own store: the only place they redeem."""
    guide = phone_pages._my_guide(db_session)  # noqa: SLF001
    return Counter(user_id=current_caller().user_id, store_id=guide.store_id, guide_id=guide.id,
                   guide_code=guide.code)


def _typed(fields) -> str:  # noqa: ANN001
    return fields.get("code", "").strip()[:CODE_CHARS]


def _code_page(*, typed: str = "", refused: views.Verdict | None = None, status: int = 200):  # noqa: ANN202
    runtime = current_runtime()
    wx = _wx_config(runtime) if runtime.config.guides.jssdk else None
    return render_template("guide/redeem.html", typed=typed, refused=refused, wx=wx, wx_script=jssdk.SCRIPT,
                           nav="redeem"), status


def _wx_config(runtime) -> jssdk.PageConfig | None:  # noqa: ANN001
    """Signed for the address the phone shows (the public one, not the one behind a proxy).
    Without a ticket the page still scans, with the browser's camera."""
    query = request.query_string.decode()
    url = runtime.config.server.public_base_url.rstrip("/") + request.path + (f"?{query}" if query else "")
    try:
        return jssdk.page_config(runtime, url=url)
    except (WeChatError, RetryLater) as exc:
        log.warning("redeem page: no WeCom JS-SDK ticket, scanning with the camera: %s", exc)
        return None
