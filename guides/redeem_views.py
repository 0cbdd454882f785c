"""What the guide's redeem page (核销 = redeem) shows: the coupon, its customer and the verdict,
as frozen values built from the rows, so the templates never lazy-load and a guide sees the
customer's phone masked (SPEC §12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from guides.models import Store
from guides.phone_views import MemberBadge, member_badge
from scrm.clock import as_utc
from scrm.coupons.codes import display
from scrm.coupons.models import Coupon, CouponTemplateStore
from scrm.coupons.schemas import value_text
from scrm.customers.models import Customer
from scrm.customers.schemas import mask_phone
from scrm.users.models import User

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.coupons.redemption import Outcome

# Refusal codes (scrm/coupons/redemption.py) as the guide reads them, in the guide's language.
REASON_WORDS = {
    "bad_code": _l("券码不对"),
    "not_found": _l("没有这张券"),
    "already_redeemed": _l("已经核销过了"),
    "expired": _l("已过期"),
    "voided": _l("已作废"),
    "not_yet_valid": _l("还没到使用时间"),
    "not_valid_in_store": _l("不能在本店使用"),
}
# Why a code names no coupon, by the domain's ``why`` (scrm/coupons/codes.py BadCode) or result,
# in the guide's language (the domain's own message is the API's English).
HINTS = {
    "shape": _l("这不是券码：券码是 12 位字母和数字，如 7ZQ4-KD2M-9XHB。"),
    "typo": _l("券码有字打错了：对着券逐个核对。"),
    "forged": _l("这不是本店的券码。"),
    "not_found": _l("没有券是这个券码，请核对后再输入。"),
}
STATUS_WORDS = {"issued": _l("可使用"), "redeemed": _l("已使用"), "voided": _l("已作废"), "expired": _l("已过期")}
ALL_STORES = _l("全部门店")


@dataclass(frozen=True)
class CouponShown:
    id: int
    code: str  # as printed, with dashes
    name: str
    value: str
    min_spend: str | None
    description: str | None
    valid_from: str
    valid_until: str
    stores: tuple[str, ...]
    status: str
    customer_name: str
    customer_phone: str | None


@dataclass(frozen=True)
class Verdict:
    """``ok``, or a refusal in words; for ``already_redeemed`` when and by whom."""

    result: str
    words: str
    message: str
    when: str | None = None
    by: str | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


def coupon_shown(db_session: Session, coupon_id: int, zone: ZoneInfo) -> CouponShown:
    coupon = db_session.get(Coupon, coupon_id, populate_existing=True)  # as the redemption just left it
    template, customer = coupon.template, db_session.get(Customer, coupon.customer_id)
    return CouponShown(
        id=coupon.id,
        code=display(coupon.code or ""),
        name=template.name,
        value=value_text(template, str(get_locale())),
        min_spend=_("满 ¥%(amount)s 可用", amount=f"{Decimal(template.min_spend).normalize():f}") if template.min_spend else None,
        description=template.description,
        valid_from=local_time(coupon.valid_from, zone),
        valid_until=local_time(coupon.valid_until, zone),
        stores=_stores(db_session, template.id),
        status=str(STATUS_WORDS.get(coupon.status, coupon.status)),
        customer_name=(customer.nickname if customer else None) or _("客户 #%(id)s", id=coupon.customer_id),
        customer_phone=mask_phone(customer.phone) if customer else None,
    )


def verdict(db_session: Session, outcome: Outcome, zone: ZoneInfo) -> Verdict:
    words = _("核销成功") if outcome.ok else str(REASON_WORDS.get(outcome.result, outcome.result))
    when = outcome.details.get("redeemed_at")
    by = _by(db_session, outcome.details["redeemed_by"]) if outcome.result == "already_redeemed" else None
    hint = HINTS.get(outcome.details.get("why") if outcome.result == "bad_code" else outcome.result)
    return Verdict(outcome.result, words, str(hint or outcome.message),
                   when=local_time(datetime.fromisoformat(when), zone) if when else None, by=by)


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _stores(db_session: Session, template_id: int) -> tuple[str, ...]:
    rows = db_session.execute(
        select(Store.code, Store.name).join(CouponTemplateStore, CouponTemplateStore.store_id == Store.id)
        .where(CouponTemplateStore.template_id == template_id).order_by(Store.code)
    )
    return tuple(f"{row.name} ({row.code})" for row in rows) or (str(ALL_STORES),)


def _by(db_session: Session, redeemed_by: dict[str, Any]) -> str:
    """The guide (and store) who redeemed it; a manager at the console is named as a user."""
    if redeemed_by.get("guide_name"):
        who = f"{redeemed_by['guide_name']} ({redeemed_by['guide']})"
    else:
        user = db_session.get(User, redeemed_by["user_id"]) if redeemed_by.get("user_id") else None
        who = user.name if user else _("后台")
    return f"{who} · {redeemed_by['store_name']}" if redeemed_by.get("store_name") else who


def coupon_member(db_session: Session, config: Any, coupon_id: int, at: datetime) -> MemberBadge | None:  # noqa: ANN401
    """The membership of the coupon's customer, as the guide sees it at the counter (SPEC §13)."""
    coupon = db_session.get(Coupon, coupon_id)
    return member_badge(db_session=db_session, config=config, customer_id=coupon.customer_id, at=at) if coupon else None
