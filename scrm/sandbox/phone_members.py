"""The phone sandbox's membership part (SPEC §13: "the sandbox plays it, which shows the code on
the phone page"): the phone's 短信 (SMS) inbox.

A customer joins on the member page (``/c/member``, opened from the menu's 会员中心 like the
coupon page from 我的优惠券) by typing a phone number and asking for a code; the product sends
it through the SMS adapter to the sandbox's Tencent Cloud SMS (:mod:`scrm.sandbox.sms_api`),
which keeps it. The phone shows the customer the messages to the numbers *they* asked codes
for (the ``sms_codes`` the product wrote for the customer, newest first) and to their
member's number: what their own phone would have received, and nobody else's.

Route on the phone's blueprint (admin session, like the rest of the phone): ``GET
api/sms?openid=`` → ``{"phones": [...], "messages": [{id, phone, text, code, at}]}``, newest
first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import jsonify, request
from sqlalchemy import func, select

from scrm.customers import service as customers
from scrm.members.models import Member, SmsCode
from scrm.sandbox.phone import _check_openid, phone_pages
from scrm.sandbox.sms_api import messages_to
from scrm.web.api import current_runtime

if TYPE_CHECKING:
    from scrm.runtime import Runtime

PHONES = 3  # the customer's latest numbers (someone who mistyped one, then the right one)
MESSAGES = 10  # per number


def phones_of(runtime: Runtime, openid: str) -> list[str]:
    """The numbers the customer asked codes for, latest first, then their member's number."""
    with runtime.transaction() as db_session:
        customer = customers.lookup(db_session=db_session, channel="mp", external_id=openid)
        if customer is None:
            return []
        asked = db_session.execute(
            select(SmsCode.phone, func.max(SmsCode.id).label("last")).where(SmsCode.customer_id == customer.id)
            .group_by(SmsCode.phone).order_by(func.max(SmsCode.id).desc()).limit(PHONES)).all()
        phones = [phone for phone, _ in asked]
        member_phone = db_session.scalar(select(Member.phone).where(Member.customer_id == customer.id))
    if member_phone and member_phone not in phones:
        phones.append(member_phone)
    return phones


def inbox(runtime: Runtime, openid: str) -> dict[str, Any]:
    """The messages the sandbox's SMS delivered to the customer's numbers, newest first."""
    phones = phones_of(runtime, openid)
    messages = [message for phone in phones for message in messages_to(runtime, phone, limit=MESSAGES)]
    messages.sort(key=lambda m: (m.sent_at, m.id), reverse=True)
    return {"phones": phones,
            "messages": [{"id": m.id, "phone": m.phone, "text": m.text, "code": m.params[0] if m.params else "",
                          "at": m.sent_at.isoformat()} for m in messages]}


@phone_pages.get("/api/sms")
def sms():  # noqa: ANN201
    openid = _check_openid(request.args.get("openid"))
    return jsonify(inbox(current_runtime(), openid))
