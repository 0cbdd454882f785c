"""The Official Account's web sign-in (网页授权, ``snsapi_base``) for the customer's coupon
page, when ``coupons.mp_oauth`` is on.

A customer who opens /c/coupons inside WeChat without a session is sent to WeChat's authorize
page, which comes back silently with a code; ``sns/oauth2/access_token`` turns the code into
the customer's openid, and the customer with that MP identity sees their coupons. The sandbox
plays the authorize page and the code exchange.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from scrm.customers import service as customers
from scrm.wechat.errors import RateLimited, WeChatError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.runtime import Runtime

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
SANDBOX_AUTHORIZE_PATH = "/sandbox/wechat/mp/connect/oauth2/authorize"
CALLBACK_PATH = "/c/oauth/callback"


class OAuthRefused(Exception):
    """WeChat did not say who this is, or they are not a customer here; the message says which."""


def authorize_url(runtime: Runtime, *, state: str, callback_path: str = CALLBACK_PATH) -> str:
    """Where to send the customer: WeChat's authorize page, which comes back to the callback
    (this page's, or another page's own: the product-code page's ``/p/oauth/callback``)."""
    config = runtime.config
    base = config.server.public_base_url + SANDBOX_AUTHORIZE_PATH if config.wechat.sandbox else AUTHORIZE_URL
    query = urlencode({
        "appid": config.wechat.mp.app_id,
        "redirect_uri": config.server.public_base_url + callback_path,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
    })
    return f"{base}?{query}#wechat_redirect"


def openid_of(runtime: Runtime, *, code: str) -> str:
    """The openid the code names (a WeChat call: made outside any transaction)."""
    busy = "微信暂时没有响应，请稍后再试 WeChat is not answering; try again in a minute."
    try:
        return runtime.mp.openid_by_oauth_code(code)
    except RateLimited:
        raise OAuthRefused(busy) from None
    except WeChatError as exc:
        if exc.errcode is None:
            raise OAuthRefused(busy) from None
        raise OAuthRefused("微信没有确认你的身份，请重新打开 WeChat did not sign you in; open the page again.") from None


def customer_of(*, db_session: Session, openid: str) -> int:
    """The customer who is this follower of the account."""
    customer = customers.lookup(db_session=db_session, channel="mp", external_id=openid)
    if customer is None:
        raise OAuthRefused("请先关注公众号，再发送“优惠券” Follow the Official Account first, then send 优惠券.")
    return customer.id
