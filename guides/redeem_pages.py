"""The guide's redeem page (核销 = redeem) on the phone: scan the customer's coupon QR or type its
code, see the coupon and the customer, confirm, see the result.

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

from flask import Blueprint, render_template, request

from guides import jssdk, phone_pages
from guides import redeem_views as views
from scrm.coupons import redemption
from scrm.coupons.redemption import CODE_CHARS, Counter
from scrm.web.api import current_runtime
from scrm.web.auth import current_caller, require_role
from scrm.wechat.errors import RetryLater, WeChatError

log = logging.getLogger(__name__)

redeem_pages = Blueprint("redeem_pages", __name__, template_folder="templates")
UNKNOWN = ("bad_code", "not_found")  # nothing to show but the message: type it again

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
    return render_template("guide/redeem_check.html", coupon=coupon, verdict=shown, nav="redeem")


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
    status = 200 if outcome.ok else 422 if outcome.result in UNKNOWN else 409
    return render_template("guide/redeem_result.html", coupon=coupon, verdict=shown, typed=typed,
                           nav="redeem"), status


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
