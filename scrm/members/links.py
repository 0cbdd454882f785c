"""The customer's signed member-page link (会员中心), sent as the answer to the menu key
``members.menu_key`` and the keywords ``members.keywords``.

Like the coupon page's link (scrm/coupons/links.py): the customer's id signed with the app's
secret key (salt ``member-page``) and the moment it was made, working for
``members.link_days``; the page swaps it at once for a sign-in and the plain /c/member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itsdangerous import BadSignature

from scrm.replies.service import Article, Reply
from scrm.signing import age_seconds, clock_serializer
from scrm.texts import say

if TYPE_CHECKING:
    from scrm.runtime import Runtime

SALT = "member-page"
PATH = "/c/member"


class MemberLinkRefused(Exception):
    """Not a link we made (``reason`` "invalid"), or one older than ``members.link_days`` ("too_old")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def member_link(runtime: Runtime, customer_id: int) -> str:
    token = clock_serializer(runtime, salt=SALT).dumps({"c": customer_id})
    return f"{runtime.config.server.public_base_url}{PATH}?t={token}"


def read_member_link(runtime: Runtime, token: str) -> int:
    """The customer id the link was made for, or :class:`MemberLinkRefused`."""
    if len(token) > 500:
        raise MemberLinkRefused("invalid")
    try:
        data, signed_at = clock_serializer(runtime, salt=SALT).loads(token, return_timestamp=True)
    except BadSignature:
        raise MemberLinkRefused("invalid") from None
    if not isinstance(data, dict) or type(data.get("c")) is not int:
        raise MemberLinkRefused("invalid")
    if age_seconds(runtime, signed_at) > runtime.config.members.link_days * 86400:
        raise MemberLinkRefused("too_old")
    return data["c"]


def asks_for_member_page(runtime: Runtime, *, menu_key: str | None = None, text: str | None = None) -> bool:
    """A menu click on ``members.menu_key``, or a message that is one of ``members.keywords``."""
    settings = runtime.config.members
    if menu_key is not None:
        return menu_key == settings.menu_key
    return text is not None and text.strip() in settings.keywords


def member_reply(runtime: Runtime, customer_id: int) -> Reply:
    """The passive reply to "会员": a card that opens the customer's member page, in ``brand.locale``."""
    return Reply("news", articles=(Article(
        title=say(runtime.config, "members.title"),
        description=say(runtime.config, "members.news_description"),
        url=member_link(runtime, customer_id),
    ),))
