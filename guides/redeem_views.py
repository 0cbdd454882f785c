"""What the guide's redeem page (核销 = redeem) shows: the coupon, its customer and the verdict,
as frozen values built from the rows, so the templates never lazy-load and a guide sees the
customer's phone masked (SPEC §12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from guides.models import Store
from scrm.clock import as_utc
from scrm.coupons.codes import display
from scrm.coupons.models import Coupon, CouponTemplateStore
from scrm.coupons.schemas import STATUS_WORDS, value_text
from scrm.customers.models import Customer
from scrm.customers.schemas import mask_phone
from scrm.users.models import User

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.coupons.redemption import Outcome

# Refusal codes (scrm/coupons/redemption.py) as the guide reads them.
REASON_WORDS = {
    "bad_code": "券码不对 Not a coupon code",
    "not_found": "没有这张券 No such coupon",
    "already_redeemed": "已经核销过了 Already redeemed",
    "expired": "已过期 Expired",
    "voided": "已作废 Voided",
    "not_yet_valid": "还没到使用时间 Not valid yet",
    "not_valid_in_store": "不能在本店使用 Not valid in this store",
}
ALL_STORES = "全部门店 Every store"


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
        value=value_text(template),
        min_spend=f"满 ¥{Decimal(template.min_spend).normalize():f} 可用 Min. spend" if template.min_spend else None,
        description=template.description,
        valid_from=local_time(coupon.valid_from, zone),
        valid_until=local_time(coupon.valid_until, zone),
        stores=_stores(db_session, template.id),
        status=STATUS_WORDS.get(coupon.status, coupon.status),
        customer_name=(customer.nickname if customer else None) or f"客户 Customer #{coupon.customer_id}",
        customer_phone=mask_phone(customer.phone) if customer else None,
    )


def verdict(db_session: Session, outcome: Outcome, zone: ZoneInfo) -> Verdict:
    words = "核销成功 Redeemed" if outcome.ok else REASON_WORDS.get(outcome.result, outcome.result)
    when = outcome.details.get("redeemed_at")
    by = _by(db_session, outcome.details["redeemed_by"]) if outcome.result == "already_redeemed" else None
    return Verdict(outcome.result, words, outcome.message,
                   when=local_time(datetime.fromisoformat(when), zone) if when else None, by=by)


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _stores(db_session: Session, template_id: int) -> tuple[str, ...]:
    rows = db_session.execute(
        select(Store.code, Store.name).join(CouponTemplateStore, CouponTemplateStore.store_id == Store.id)
        .where(CouponTemplateStore.template_id == template_id).order_by(Store.code)
    )
    return tuple(f"{row.name} ({row.code})" for row in rows) or (ALL_STORES,)


def _by(db_session: Session, redeemed_by: dict[str, Any]) -> str:
    """The guide (and store) who redeemed it; a manager at the console is named as a user."""
    if redeemed_by.get("guide_name"):
        who = f"{redeemed_by['guide_name']} ({redeemed_by['guide']})"
    else:
        user = db_session.get(User, redeemed_by["user_id"]) if redeemed_by.get("user_id") else None
        who = user.name if user else "后台 The console"
    return f"{who} · {redeemed_by['store_name']}" if redeemed_by.get("store_name") else who
