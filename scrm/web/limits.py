"""Rate limits (SPEC §12) with Flask-Limiter on our Redis: coupon redemption attempts per user
and per IP, sign-in per IP, members' SMS codes per phone number and per IP, and product-code
pages per IP, answered 429 with ``Retry-After``.

Flask-Limiter (and its ``limits`` storage) rather than our token bucket: it keys by whatever
we choose, counts in Redis with one round trip, and writes the 429 and its headers. A
``memory://`` runtime keeps the counts in the process, as its Redis is. Each app gets its own
limiter, so that no count outlives the app that made it (a test's app, a restarted server).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from scrm.members.joining import InvalidPhone, china_mobile
from scrm.redis_store import is_memory_url
from scrm.runtime import Runtime
from scrm.web.auth import current_caller

# endpoint → the limits it is counted against: (the setting in security.rate_limits, the key)
PER_IP, PER_USER, PER_PHONE = "ip", "user", "phone"
LIMITED: dict[str, tuple[tuple[str, str], ...]] = {
    "pages.login": (("sign_in_per_ip", PER_IP),),
    "guide_pages.login": (("sign_in_per_ip", PER_IP),),
    "guide_pages.oauth_callback": (("sign_in_per_ip", PER_IP),),
    "coupons_api.redeem_coupon": (("redeem_per_user", PER_USER), ("redeem_per_ip", PER_IP)),
    "redeem_pages.check": (("redeem_per_user", PER_USER), ("redeem_per_ip", PER_IP)),
    "redeem_pages.confirm": (("redeem_per_user", PER_USER), ("redeem_per_ip", PER_IP)),
    "member_pages.send_code": (("sms_per_phone", PER_PHONE), ("sms_per_ip", PER_IP)),
    "product_pages.claim_page": (("product_claims_per_ip", PER_IP),),  # /p/<code>: opened and claimed
    "product_pages.oauth_callback": (("product_claims_per_ip", PER_IP),),
}


def init_app(app: Flask, runtime: Runtime) -> Limiter:
    url = runtime.config.redis.url
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri="memory://" if is_memory_url(url) else url,
        headers_enabled=True,
        key_prefix="scrm:limits",
    )
    settings = runtime.config.security.rate_limits
    for endpoint, limits in LIMITED.items():
        view = app.view_functions[endpoint]
        for name, per in limits:
            view = limiter.limit(getattr(settings, name), key_func=_KEYS[per], scope=f"{endpoint}:{name}",
                                 exempt_when=_EXEMPT.get(per))(view)
        app.view_functions[endpoint] = view
    return limiter


def _user_or_ip() -> str:
    caller = current_caller()
    return f"user:{caller.user_id}" if caller is not None else f"ip:{request.remote_addr}"


def _phone() -> str:
    """The phone number the form names, as joining reads it (+86, spaces and dashes dropped)."""
    return "phone:" + china_mobile(request.form.get("phone", ""))


def _no_phone() -> bool:
    """A form without a valid phone number is refused (422) without counting against one."""
    try:
        china_mobile(request.form.get("phone", ""))
    except InvalidPhone:
        return True
    return False


_KEYS: dict[str, Callable[[], str]] = {PER_IP: get_remote_address, PER_USER: _user_or_ip, PER_PHONE: _phone}
_EXEMPT: dict[str, Callable[[], bool]] = {PER_PHONE: _no_phone}
