"""The customer's signed "my coupons" link (我的优惠券), sent in replies and announcements.

The link carries the customer's id signed with the app's secret key (salt ``coupon-page``)
and the moment it was made; it works for ``coupons.link_days``. Anyone holding it sees that
customer's coupons, as anyone holding the customer's phone would: it is only ever sent to
the customer, in their own chat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itsdangerous import BadSignature

from scrm.replies.service import Article, Reply
from scrm.signing import age_seconds, clock_serializer

if TYPE_CHECKING:
    from scrm.replies.service import Reply
    from scrm.runtime import Runtime

SALT = "coupon-page"
PATH = "/c/coupons"


class LinkRefused(Exception):
    """Not a link we made, or one too old; the message says which, for the customer."""


def coupons_link(runtime: Runtime, customer_id: int) -> str:
    token = clock_serializer(runtime, salt=SALT).dumps({"c": customer_id})
    return f"{runtime.config.server.public_base_url}{PATH}?t={token}"


def read_link(runtime: Runtime, token: str) -> int:
    """The customer id the link was made for, or :class:`LinkRefused`."""
    try:
        data, signed_at = clock_serializer(runtime, salt=SALT).loads(token, return_timestamp=True)
    except BadSignature:
        raise LinkRefused("这个链接无效 This link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise LinkRefused("这个链接无效 This link is not valid.")
    if age_seconds(runtime, signed_at) > runtime.config.coupons.link_days * 86400:
        raise LinkRefused("这个链接已过期，请在公众号里再发一次“优惠券” This link is too old; send 优惠券 again.")
    return data["c"]


def coupons_reply(runtime: Runtime, customer_id: int) -> Reply:
    """The passive reply to "my coupons": a card that opens the customer's coupon page."""

    return Reply("news", articles=(Article(
        title="我的优惠券 My coupons",
        description="点开查看券码，到店出示二维码即可使用 Open to see your coupons; show the QR code in store.",
        url=coupons_link(runtime, customer_id),
    ),))
