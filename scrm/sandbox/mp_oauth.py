"""The sandbox Official Account's web sign-in (网页授权) for the customer's coupon page:
``sns/oauth2/access_token``, which WeChat serves at api.weixin.qq.com/sns/ beside cgi-bin/ (the
sandbox: ``/sandbox/wechat/mp/sns/``); the code comes from the authorize page,
``/sandbox/wechat/mp/connect/oauth2/authorize`` (scrm/sandbox/routes.py). A code is good for 5
minutes, once.

WeChat's ``snsapi_base`` sign-in asks nothing: WeChat knows who holds the phone. The phone
sandbox plays that for the pages it opens (:mod:`scrm.sandbox.phone_products`): it names the
customer in the browser's session under :data:`BROWSER_USER`, and the authorize page signs that
customer in without asking. A browser with no such customer is asked which WeChat user it is.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

from scrm.sandbox.apis import Call, api
from scrm.sandbox.errors import WeChatError
from scrm.sandbox.state import ms


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


OAUTH_CODE_SECONDS = 300
BROWSER_USER = "sandbox_wechat_user"  # the openid the phone sandbox opened this browser's pages as


def _oauth_key(code: str) -> str:
    return f"sandbox:mp:oauth:{code}"


def issue_oauth_code(redis: Any, *, openid: str, now: datetime) -> str:
    """The ``code`` the authorize page hands to ``redirect_uri``: good for 5 minutes, once."""
    code = secrets.token_urlsafe(24)
    redis.hset(_oauth_key(code), mapping={"openid": openid, "expires_at": ms(now) + OAUTH_CODE_SECONDS * 1000})
    redis.expire(_oauth_key(code), 86400)  # only to keep Redis tidy
    return code


@api("mp", "sns/oauth2/access_token", method="GET", needs_token=False)
def oauth_access_token(call: Call) -> dict[str, Any]:
    """At api.weixin.qq.com/sns/, not cgi-bin/: the sandbox serves it at ``mp/sns/…``."""
    query, mp = call.query, call.config.wechat.mp
    if not _same(query.get("appid") or "", mp.app_id):
        raise WeChatError(40013)
    if not _same(query.get("secret") or "", mp.app_secret):
        raise WeChatError(40125)
    if query.get("grant_type") != "authorization_code":
        raise WeChatError(40002)
    raw = call.redis.hgetall(_oauth_key(query.get("code") or ""))
    if not raw or int(raw[b"expires_at"]) <= call.now_ms:
        raise WeChatError(40029, errmsg="invalid code")
    if not call.redis.hsetnx(_oauth_key(query["code"]), "used", 1):
        raise WeChatError(40163, errmsg="code been used")
    return {"access_token": secrets.token_urlsafe(32), "expires_in": 7200, "refresh_token": secrets.token_urlsafe(32),
            "openid": raw[b"openid"].decode(), "scope": "snsapi_base"}
