"""The claim page of a product code (扫码领奖, ``/p/<code>``, SPEC §14), phone-first, in
``brand.locale``: what the QR printed on a package opens in WeChat.

1. The code is checked first (scrm/products/claiming.py ``check_code``): a code whose MAC does
   not check is "not genuine" (404) before any table of codes or claims is read; a batch past
   its ``valid_until`` is "ended" (410). Both are recorded as scans.
2. The customer is the one signed in on the customer pages (scrm/coupons/customer_pages.py).
   Someone not signed in goes through the account's web sign-in (``snsapi_base``, silent), which
   comes back to ``/p/oauth/callback`` with the product code kept in this browser's session:
   a follower is signed in and sent back to ``/p/<code>``; a WeChat user who does not follow is
   remembered for a day as a visitor and shown the follow page (the account's QR code whose
   scene is ``pc_<code>``, scrm/products/follow.py): following by it claims the code in the
   webhook (handlers/reactions.py), and the visitor's next look at ``/p/<code>`` signs them in.
3. A signed-in customer sees the product, the reward in words and one big 领取 button (a form
   with the CSRF token), or "已领取" with a link to what they got, or the warning that someone
   else claimed it on …. 领取 posts to ``/p/<code>``: ``flows.claim_product_code`` in one
   transaction, then 303 back to the page, which shows the result; the daily limit and a reward
   that cannot be given are refusal pages (409) that change nothing.

Every request to ``/p/`` counts against ``security.rate_limits.product_claims_per_ip``
(scrm/web/limits.py: 429 with ``Retry-After``). Pages are ``no-store``: a phone is lent.
Server-rendered, no JavaScript.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING

import segno
from flask import Blueprint, redirect, render_template, request, session, url_for

from scrm import flows
from scrm.coupons import mp_oauth
from scrm.coupons.customer_pages import remember_customer, signed_in_customer
from scrm.customers import service as customers
from scrm.products import claiming, follow
from scrm.products.claim_views import claim_page as read_claim_page
from scrm.products.codes import CODE_CHARS
from scrm.texts import say
from scrm.wechat.errors import WeChatError
from scrm.web.api import current_runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.products.claiming import Checked
    from scrm.runtime import Runtime

product_pages = Blueprint("product_pages", __name__, template_folder="templates")

CALLBACK_PATH = "/p/oauth/callback"
OAUTH = "product_oauth"  # {"s": state, "c": the product code}: the web sign-in this browser started
VISITOR = "product_visitor"  # {"o": openid, "at": epoch s}: signed in by WeChat, not following (yet)
VISITOR_SECONDS = 86400
JUST = "product_claim"  # set by the POST: "<code>:<result>", so the page it redirects to says so (one
# slot, overwritten: a client that does not follow the redirect does not grow the session cookie)
QR_SCALE = 8
REFUSED_STATUS = {"not_genuine": 404, "expired": 410, "daily_limit": 409, "reward_unavailable": 409}
REFUSED_WORDS = {"reward_unavailable": "unavailable"}  # the texts' key of a refusal, when not its own name


@product_pages.context_processor
def _words() -> dict[str, object]:
    config = current_runtime().config
    return {"brand": config.brand, "say": lambda key, **values: say(config, key, **values),
            "daily": config.products.daily_claims}


@product_pages.after_request
def _private(response):  # noqa: ANN001, ANN202
    """A phone is lent and shared: no claim stays in its cache, nothing leaves in a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@product_pages.route("/p/<code>", methods=["GET", "POST"])
def claim_page(code: str):  # noqa: ANN201
    """GET: the code's page for whoever opens it. POST (the 领取 button): claim it."""
    runtime = current_runtime()
    if request.method == "POST":
        return _claim(runtime, code)
    return _show(runtime, code)


@product_pages.get(CALLBACK_PATH)
def oauth_callback():  # noqa: ANN201
    """WeChat's web sign-in comes back: a follower is signed in, anyone else is a visitor."""
    runtime = current_runtime()
    held, given = session.pop(OAUTH, None), request.args.get("state", "")
    if (not isinstance(held, dict) or not isinstance(held.get("s"), str) or not isinstance(held.get("c"), str)
            or not hmac.compare_digest(held["s"].encode(), given.encode())):
        return _message(runtime, "page.cannot_open", "oauth.not_here", 403)
    if not request.args.get("code"):
        return _message(runtime, "page.cannot_open", "oauth.not_signed_in", 403)
    try:
        openid = mp_oauth.openid_of(runtime, code=request.args["code"])  # a WeChat call: no transaction open
    except mp_oauth.OAuthRefused:
        return _message(runtime, "page.cannot_open", "oauth.not_signed_in", 403)
    with runtime.transaction() as db_session:
        following = _follower(db_session, openid)
    if following is not None:
        session.pop(VISITOR, None)
        remember_customer(runtime, following)
    else:
        session[VISITOR] = {"o": openid, "at": int(runtime.clock.timestamp())}
    return redirect(url_for("product_pages.claim_page", code=held["c"]))


# ---- GET -----------------------------------------------------------------------------------


def _show(runtime: Runtime, code: str):  # noqa: ANN202
    just = _just_done(code)
    with runtime.transaction() as db_session:
        checked = claiming.check_code(runtime=runtime, db_session=db_session, code=code)
        customer_id = signed_in_customer(runtime, db_session)
        if checked.refused is not None:
            _record(runtime, db_session, checked, checked.refused, customer_id)
            return _refused(checked.refused, checked)
        stranger = False
        if customer_id is None:
            visitor = _visitor(runtime, db_session)
            if visitor is None:
                return _to_wechat(runtime, checked.code)
            following, customer_id = visitor
            if following:
                session.pop(VISITOR, None)
                remember_customer(runtime, customer_id)
            stranger = not following
        page = read_claim_page(runtime=runtime, db_session=db_session, checked=checked, customer_id=customer_id)
        if just is None:
            _record(runtime, db_session, checked, _scan_result(page.state, stranger), customer_id)
    if stranger and page.state == "unclaimed":
        return _follow_page(runtime, page)  # WeChat may be asked for the code: after the commit
    return render_template("products/customer/claim.html", page=page, just=just)


def _follow_page(runtime: Runtime, page):  # noqa: ANN001, ANN202
    """The account's code with the product code in its scene. Drawn here from what WeChat
    encodes (segno): an image the phone long-presses to follow."""
    try:
        qr = follow.follow_qr(runtime, page.code)
    except WeChatError:
        return render_template("products/customer/follow.html", page=page, qr=None), 503
    image = segno.make_qr(qr.url, error="m").png_data_uri(scale=QR_SCALE, border=4)
    return render_template("products/customer/follow.html", page=page, qr=image)


# ---- POST ----------------------------------------------------------------------------------


def _claim(runtime: Runtime, code: str):  # noqa: ANN202
    with runtime.transaction() as db_session:
        checked = claiming.check_code(runtime=runtime, db_session=db_session, code=code)
        customer_id = signed_in_customer(runtime, db_session)
        if checked.refused is not None:
            _record(runtime, db_session, checked, checked.refused, customer_id)
            return _refused(checked.refused, checked)
        if customer_id is None:  # the sign-in lapsed: the page signs them in again
            return redirect(url_for("product_pages.claim_page", code=checked.code), 303)
        claimed = flows.claim_product_code(runtime=runtime, db_session=db_session, batch=checked.batch,
                                           serial=checked.serial, customer_id=customer_id, via="page")
    if claimed.result in ("daily_limit", "reward_unavailable"):
        return _refused(claimed.result, checked)
    session[JUST] = f"{checked.code}:{claimed.result}"
    return redirect(url_for("product_pages.claim_page", code=checked.code), 303)


# ---- helpers -------------------------------------------------------------------------------


def _to_wechat(runtime: Runtime, code: str):  # noqa: ANN202
    """The account's silent web sign-in, coming back to this page's own callback."""
    state = secrets.token_urlsafe(16)
    session[OAUTH] = {"s": state, "c": code}
    return redirect(mp_oauth.authorize_url(runtime, state=state, callback_path=CALLBACK_PATH))


def _follower(db_session: Session, openid: str) -> int | None:
    """The customer who is this follower of the account; None for a WeChat user who is not one."""
    identity = customers.find_identity(db_session=db_session, channel="mp", external_id=openid)
    if identity is None or not identity.following:
        return None
    customer = customers.resolve(db_session=db_session, customer_id=identity.customer_id)
    return None if customer is None else customer.id


def _visitor(runtime: Runtime, db_session: Session) -> tuple[bool, int | None] | None:
    """The WeChat user the sign-in found not following, as they are now: (following now, their
    customer id or None); None when there is none, or it is older than a day."""
    held = session.get(VISITOR)
    if not isinstance(held, dict) or not isinstance(held.get("o"), str) or not isinstance(held.get("at"), int):
        return None
    if runtime.clock.timestamp() - held["at"] > VISITOR_SECONDS:
        session.pop(VISITOR, None)
        return None
    following = _follower(db_session, held["o"])
    if following is not None:
        return True, following
    known = customers.lookup(db_session=db_session, channel="mp", external_id=held["o"])
    return False, None if known is None else known.id


def _scan_result(state: str, stranger: bool) -> str | None:
    """What a look at the page is counted as: a repeat scan of one's own code, a scan of a code
    someone else claimed, a stranger shown the follow code; a customer's look at an unclaimed
    code is no scan (the claim it leads to is counted)."""
    if state == "unclaimed":
        return "not_following" if stranger else None
    return "already_yours" if state == "yours" else "claimed_by_other"


def _record(runtime: Runtime, db_session: Session, checked: Checked, result: str | None,
            customer_id: int | None) -> None:
    if result is None:
        return
    claiming.record_scan(db_session=db_session, config=runtime.config, result=result, at=runtime.clock.now(),
                         batch_id=checked.batch.id if checked.batch is not None else None, serial=checked.serial,
                         customer_id=customer_id)


def _just_done(code: str) -> str | None:
    """What the POST that redirected here did to this code (claimed, already_yours, …), if any."""
    done = session.pop(JUST, None)
    if not isinstance(done, str):
        return None
    held, _, result = done.rpartition(":")
    return result if held == code.lower() and len(held) == CODE_CHARS else None


def _refused(reason: str, checked: Checked):  # noqa: ANN202
    until = checked.batch.valid_until.isoformat() if checked.batch and checked.batch.valid_until else ""
    product = checked.batch.product if checked.batch is not None else None
    return render_template("products/customer/refused.html", reason=reason, kind=REFUSED_WORDS.get(reason, reason),
                           until=until, product=product), REFUSED_STATUS[reason]


def _message(runtime: Runtime, title_key: str, message_key: str, status: int):  # noqa: ANN202
    return render_template("products/customer/message.html", title=say(runtime.config, title_key),
                           message=say(runtime.config, message_key)), status
