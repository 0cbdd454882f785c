"""The dynamic member QR (会员码, SPEC §13): the member card shows a signed token naming the
member, which a guide scans at the counter (``/m/``) to open that member. It works for
``members.qr_minutes``: a screenshot kept for later does not.

The token is short enough for a dense-free QR code: "M" + itsdangerous's URL-safe signed,
timestamped customer id (the runtime's clock stamps it, so frozen tests can age it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itsdangerous import BadSignature

from scrm.signing import age_seconds, clock_serializer

if TYPE_CHECKING:
    from scrm.runtime import Runtime

SALT = "member-qr"
PREFIX = "M"


class MemberQrRefused(Exception):
    """Not a member QR of ours (``reason`` "invalid"), or one older than ``members.qr_minutes``
    ("expired": the member refreshes the card)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def member_qr_token(runtime: Runtime, customer_id: int) -> str:
    return PREFIX + clock_serializer(runtime, salt=SALT).dumps(customer_id)


def read_member_qr(runtime: Runtime, token: str) -> int:
    """The customer id a member QR names, or :class:`MemberQrRefused`."""
    token = token.strip()
    if not token.startswith(PREFIX) or len(token) > 200:
        raise MemberQrRefused("invalid")
    try:
        customer_id, signed_at = clock_serializer(runtime, salt=SALT).loads(token[1:], return_timestamp=True)
    except BadSignature:
        raise MemberQrRefused("invalid") from None
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise MemberQrRefused("invalid")
    if age_seconds(runtime, signed_at) > runtime.config.members.qr_minutes * 60:
        raise MemberQrRefused("expired")
    return customer_id
