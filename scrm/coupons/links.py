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
from scrm.texts import say

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
        raise LinkRefused(say(runtime.config, "link.invalid")) from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise LinkRefused(say(runtime.config, "link.invalid"))
    if age_seconds(runtime, signed_at) > runtime.config.coupons.link_days * 86400:
        raise LinkRefused(say(runtime.config, "link.too_old"))
    return data["c"]


def coupons_reply(runtime: Runtime, customer_id: int) -> Reply:
    """The passive reply to "my coupons": a card that opens the customer's coupon page, in ``brand.locale``."""

    return Reply("news", articles=(Article(
        title=say(runtime.config, "coupons.title"),
        description=say(runtime.config, "coupons.news_description"),
        url=coupons_link(runtime, customer_id),
    ),))
