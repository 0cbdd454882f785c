"""The customer's coupon page (我的优惠券 = my coupons): each coupon with a large QR code to show
at the counter, its value, validity, stores and state.

The customer arrives by the signed link the Official Account sends (a reply to "优惠券" or the
menu's "my coupons"; scrm/coupons/links.py): the link signs them in for this browser and is
swapped at once for the plain /c/coupons, so the token stays neither in the address bar nor
in a Referer. With ``coupons.mp_oauth`` on, a customer without a session is signed in by the
account's web sign-in instead (scrm/coupons/mp_oauth.py). A sign-in lasts as long as a link
does (``coupons.link_days``).

The sign-in is the customer's on every /c/ page: the member page (scrm/members/customer_pages.py)
uses :func:`signed_in_customer` and :func:`remember_customer`, and its web sign-in comes back
to it through ``/c/oauth?next=/c/member`` (:data:`OAUTH_RETURNS`).

Server-rendered, no JavaScript: it is opened in WeChat's browser on any phone.
"""

from __future__ import annotations

import hmac
import io
import secrets
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import segno
from flask import Blueprint, redirect, render_template, request, session, url_for

from scrm.coupons import mp_oauth, wallet
from scrm.coupons.links import LinkRefused, read_link
from scrm.customers import service as customers
from scrm.texts import say
from scrm.web.api import current_runtime
from scrm.web.errors import NotFound

if TYPE_CHECKING:
    from scrm.runtime import Runtime

customer_pages = Blueprint("customer_pages", __name__, template_folder="templates")


@customer_pages.context_processor
def _brand() -> dict[str, object]:
    """The customer sees whose coupons these are (``brand.name``), in the brand's language only."""
    config = current_runtime().config
    return {"brand": config.brand, "say": lambda key, **values: say(config, key, **values)}


SIGNED_IN = "coupon_customer"  # {"c": customer id, "at": when, epoch seconds}
OAUTH_STATE = "coupon_oauth_state"
OAUTH_NEXT = "coupon_oauth_next"
OAUTH_RETURNS = ("/c/member",)  # the other customer pages the web sign-in may come back to
QR_SCALE = 10  # pixels a module: 290 px for a 12-character code, crisp when the page shrinks it


@customer_pages.after_request
def _private(response):  # noqa: ANN001, ANN202
    """A phone is lent and shared: no coupon stays in its cache, and nothing leaves in a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@customer_pages.errorhandler(NotFound)
def _not_found(exc: NotFound):  # noqa: ANN202
    # exc.message is for the log and the API, not the customer
    message = say(current_runtime().config, "page.no_such_coupon")
    return _message("page.not_found", message, "link.open_from_account", 404)


@customer_pages.get("/c/coupons")
def my_coupons():  # noqa: ANN201
    runtime = current_runtime()
    if "t" in request.args:
        return _sign_in_by_link(runtime, request.args["t"])
    with runtime.transaction() as db_session:
        customer_id = signed_in_customer(runtime, db_session)
        if customer_id is None:
            return _no_session(runtime)
        cards = wallet.cards_of(db_session=db_session, customer_id=customer_id, now=runtime.clock.now(),
                                zone=_zone(runtime), locale=runtime.config.brand.locale)
    return render_template("coupons/customer/list.html", cards=cards)


@customer_pages.get("/c/coupons/<int:coupon_id>")
def coupon(coupon_id: int):  # noqa: ANN201
    """One coupon's QR, as large as the screen: for the counter's scanner."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        customer_id = signed_in_customer(runtime, db_session)
        if customer_id is None:
            return _no_session(runtime)
        card = wallet.card_of(db_session=db_session, customer_id=customer_id, coupon_id=coupon_id,
                              now=runtime.clock.now(), zone=_zone(runtime), locale=runtime.config.brand.locale)
    if card is None:
        raise NotFound(f"no coupon {coupon_id}")
    return render_template("coupons/customer/coupon.html", card=card)


@customer_pages.get("/c/coupons/<int:coupon_id>/qr.png")
def coupon_qr(coupon_id: int):  # noqa: ANN201
    """The coupon's QR code: its canonical code, which the guide's page scans. Only the
    signed-in customer's own coupons; any other id is 404, whoever asks."""
    runtime = current_runtime()
    with runtime.transaction() as db_session:
        customer_id = signed_in_customer(runtime, db_session)
        text = customer_id and wallet.qr_text_of(db_session=db_session, customer_id=customer_id, coupon_id=coupon_id)
    if not text:
        raise NotFound(f"no coupon {coupon_id}")
    buffer = io.BytesIO()
    # make_qr: segno.make may pick a Micro QR, which phone scanners do not read.
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=QR_SCALE, border=4)
    return buffer.getvalue(), 200, {"Content-Type": "image/png"}


@customer_pages.get("/c/oauth")
def oauth_start():  # noqa: ANN201
    runtime = _oauth_runtime()
    session[OAUTH_STATE] = state = secrets.token_urlsafe(16)  # this browser started it: no forged callback
    back = request.args.get("next")
    if back in OAUTH_RETURNS:
        session[OAUTH_NEXT] = back
    else:
        session.pop(OAUTH_NEXT, None)
    return redirect(mp_oauth.authorize_url(runtime, state=state))


@customer_pages.get("/c/oauth/callback")
def oauth_callback():  # noqa: ANN201
    runtime = _oauth_runtime()
    expected, given = session.pop(OAUTH_STATE, None), request.args.get("state", "")
    try:
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            raise mp_oauth.OAuthRefused(say(runtime.config, "oauth.not_here"))
        if not request.args.get("code"):
            raise mp_oauth.OAuthRefused(say(runtime.config, "oauth.not_signed_in"))
        openid = mp_oauth.openid_of(runtime, code=request.args["code"])
        with runtime.transaction() as db_session:
            customer_id = mp_oauth.customer_of(db_session=db_session, openid=openid)
    except mp_oauth.OAuthRefused as exc:
        return _message("page.cannot_open", str(exc), None, 403)
    back = session.pop(OAUTH_NEXT, None)
    remember_customer(runtime, customer_id)
    return redirect(back if back in OAUTH_RETURNS else url_for("customer_pages.my_coupons"))


# ---- helpers -------------------------------------------------------------------------------


def _sign_in_by_link(runtime: Runtime, token: str):  # noqa: ANN202
    try:
        customer_id = read_link(runtime, token)
        with runtime.transaction() as db_session:
            customer = customers.resolve(db_session=db_session, customer_id=customer_id)
            if customer is None:
                raise LinkRefused(say(runtime.config, "link.invalid"))
            customer_id = customer.id
    except LinkRefused as exc:
        return _message("link.refused", str(exc), "link.open_from_account", 403)
    remember_customer(runtime, customer_id)
    return redirect(url_for("customer_pages.my_coupons"))


def remember_customer(runtime: Runtime, customer_id: int) -> None:
    """Sign the customer in for this browser, beside any console sign-in already there."""
    session.pop(OAUTH_STATE, None)
    session[SIGNED_IN] = {"c": customer_id, "at": int(runtime.clock.timestamp())}


def signed_in_customer(runtime: Runtime, db_session) -> int | None:  # noqa: ANN001
    """The signed-in customer (merges followed), or None: no sign-in, or one older than a link may be."""
    held = session.get(SIGNED_IN)
    if not isinstance(held, dict) or not isinstance(held.get("c"), int) or not isinstance(held.get("at"), int):
        return None
    if runtime.clock.timestamp() - held["at"] > runtime.config.coupons.link_days * 86400:
        session.pop(SIGNED_IN, None)
        return None
    customer = customers.resolve(db_session=db_session, customer_id=held["c"])
    return None if customer is None else customer.id


def _no_session(runtime: Runtime):  # noqa: ANN202
    if runtime.config.coupons.mp_oauth:
        return redirect(url_for("customer_pages.oauth_start"))
    return _message("coupons.title", say(runtime.config, "link.open_here"), "link.open_from_account", 200)


def _oauth_runtime() -> Runtime:
    runtime = current_runtime()
    if not runtime.config.coupons.mp_oauth:
        raise NotFound("WeChat sign-in is off (coupons.mp_oauth); open the link the account sends")  # not shown
    return runtime


def _zone(runtime: Runtime) -> ZoneInfo:
    return runtime.config.brand.zone


def _message(title_key: str, message: str, hint_key: str | None, status: int):  # noqa: ANN202
    """A page with one message; the title and the hint by their keys in scrm/texts.py."""
    config = current_runtime().config
    return render_template("coupons/customer/message.html", title=say(config, title_key), message=message,
                           hint=say(config, hint_key) if hint_key else ""), status
