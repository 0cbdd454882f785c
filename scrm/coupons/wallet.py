"""The customer's own coupons (我的优惠券 = my coupons) as their page shows them: what can be
used now first, then what becomes usable later, then what is over (used, expired, voided).

Times are shown in the account's local time (``brand.timezone``). Service functions take
``db_session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import case, select

from guides.models import Store
from scrm.clock import as_utc
from scrm.coupons.codes import display
from scrm.coupons.models import Coupon, CouponTemplateStore
from scrm.coupons.schemas import value_text
from scrm.texts import local_time, say

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MOST_SHOWN = 100


@dataclass(frozen=True)
class CouponCard:
    id: int
    name: str
    value: str
    code: str  # as shown, in groups of four
    state: str  # usable, later, redeemed, expired, voided
    state_words: str
    validity: str
    stores: str
    description: str | None

    @property
    def shows_qr(self) -> bool:
        """Only a coupon the counter can take shows its QR; an ended one is greyed out."""
        return self.state in ("usable", "later")


def cards_of(*, db_session: Session, customer_id: int, now: datetime, zone: ZoneInfo,
             locale: str = "zh_CN") -> list[CouponCard]:
    """The customer's coupons, usable ones first (soonest to end first), at most ``MOST_SHOWN``;
    their words in ``locale`` (``brand.locale``)."""
    now = as_utc(now)
    still_open = (Coupon.status == "issued") & (Coupon.valid_until > now)
    rank = case((still_open & (Coupon.valid_from <= now), 0), (still_open, 1), else_=2)
    coupons = list(db_session.scalars(
        select(Coupon).where(Coupon.customer_id == customer_id)
        .order_by(rank, case((still_open, Coupon.valid_until)), Coupon.issued_at.desc(), Coupon.id.desc())
        .limit(MOST_SHOWN)
    ))
    stores = _store_names(db_session, {coupon.template_id for coupon in coupons})
    return [_card(coupon, stores.get(coupon.template_id), now, zone, locale) for coupon in coupons]


def card_of(*, db_session: Session, customer_id: int, coupon_id: int, now: datetime,
            zone: ZoneInfo, locale: str = "zh_CN") -> CouponCard | None:
    """One of the customer's coupons; None when it is not theirs (or not at all)."""
    coupon = db_session.get(Coupon, coupon_id)
    if coupon is None or coupon.customer_id != customer_id:
        return None
    stores = _store_names(db_session, {coupon.template_id})
    return _card(coupon, stores.get(coupon.template_id), as_utc(now), zone, locale)


def qr_text_of(*, db_session: Session, customer_id: int, coupon_id: int) -> str | None:
    """What the coupon's QR code holds: its canonical code, no dashes; None when not theirs."""
    code = db_session.scalar(select(Coupon.code).where(Coupon.id == coupon_id, Coupon.customer_id == customer_id))
    return code or None


def _state(coupon: Coupon, now: datetime) -> str:
    if coupon.status != "issued":
        return coupon.status
    if as_utc(coupon.valid_until) <= now:
        return "expired"  # the scheduler's expiry pass has not come by yet
    return "later" if as_utc(coupon.valid_from) > now else "usable"


def _card(coupon: Coupon, stores: list[str] | None, now: datetime, zone: ZoneInfo, locale: str) -> CouponCard:
    state = _state(coupon, now)
    template = coupon.template
    return CouponCard(
        id=coupon.id,
        name=template.name,
        value=value_text(template, locale),
        code=display(coupon.code or ""),
        state=state,
        state_words=say(locale, f"coupons.state.{state}"),
        validity=_validity(coupon, state, zone, locale),
        stores="、".join(stores) if stores else say(locale, "coupons.all_stores"),
        description=template.description,
    )


def _validity(coupon: Coupon, state: str, zone: ZoneInfo, locale: str) -> str:
    if state == "redeemed" and coupon.redeemed_at is not None:
        return say(locale, "coupons.used_at", at=local_time(coupon.redeemed_at, zone))
    if state == "later":
        return say(locale, "coupons.usable_from", start=local_time(coupon.valid_from, zone),
                   until=local_time(coupon.valid_until, zone))
    return say(locale, "coupons.valid_until", until=local_time(coupon.valid_until, zone))


def _store_names(db_session: Session, template_ids: set[int]) -> dict[int, list[str]]:
    """template id → names of the stores where it is valid; a template with none is absent (all stores)."""
    if not template_ids:
        return {}
    names: dict[int, list[str]] = {}
    rows = db_session.execute(
        select(CouponTemplateStore.template_id, Store.name).join(Store, Store.id == CouponTemplateStore.store_id)
        .where(CouponTemplateStore.template_id.in_(template_ids)).order_by(Store.code)
    )
    for template_id, name in rows:
        names.setdefault(template_id, []).append(name)
    return names
