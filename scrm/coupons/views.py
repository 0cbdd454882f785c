"""Templates, rules and coupons as JSON, and as the words a customer or guide reads.
A guide sees a customer's phone number masked (SPEC §12)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from guides.models import Guide, Store
from scrm.coupons.codes import display
from scrm.coupons.models import Coupon, CouponRule, CouponTemplate
from scrm.coupons.coupon_templates import store_codes
from scrm.customers.models import Customer
from scrm.customers.views import mask_phone
from scrm.clock import as_utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

STATUS_WORDS = {"issued": "可使用 ready to use", "redeemed": "已使用 used", "voided": "已作废 voided",
                "expired": "已过期 expired"}


def value_text(template: CouponTemplate) -> str:
    """What the coupon gives, as it is printed: ¥20 off over ¥100, 8.5折, a gift."""
    spend = f"满{_yuan(template.min_spend)}" if template.min_spend else ""
    if template.kind == "cash":
        return f"{spend}减¥{_yuan(template.amount)}" if spend else f"¥{_yuan(template.amount)} 代金券"
    if template.kind == "discount":
        return f"{spend}{Decimal(template.discount).normalize()}折" if spend else f"{Decimal(template.discount).normalize()}折"
    return f"赠 {template.gift}"


def template_json(db_session: Session, template: CouponTemplate, *, redeemed: int | None = None) -> dict[str, Any]:
    body = {
        "id": template.id,
        "name": template.name,
        "kind": template.kind,
        "amount": _money(template.amount),
        "discount": str(Decimal(template.discount).normalize()) if template.discount is not None else None,
        "gift": template.gift,
        "min_spend": _money(template.min_spend),
        "value_text": value_text(template),
        "description": template.description,
        "valid_from": _iso(template.valid_from),
        "valid_until": _iso(template.valid_until),
        "valid_days": template.valid_days,
        "stock": template.stock,
        "issued": template.issued_count,
        "left": None if template.stock is None else template.stock - template.issued_count,
        "per_customer_limit": template.per_customer_limit,
        "remind_days_before": template.remind_days_before,
        "stores": store_codes(db_session=db_session, template_id=template.id),
        "status": template.status,
        "created_at": _iso(template.created_at),
    }
    if redeemed is not None:
        body["redeemed"] = redeemed
    return body


def rule_json(rule: CouponRule) -> dict[str, Any]:
    return {"id": rule.id, "template_id": rule.template_id, "trigger": rule.trigger,
            "min_amount": _money(rule.min_amount), "active": rule.active, "created_at": _iso(rule.created_at)}


def coupon_json(db_session: Session, coupon: Coupon, *, role: str | None = None) -> dict[str, Any]:
    template = coupon.template
    customer = db_session.get(Customer, coupon.customer_id)
    return {
        "id": coupon.id,
        "code": display(coupon.code or ""),
        "status": coupon.status,
        "template": {"id": template.id, "name": template.name, "kind": template.kind,
                     "value_text": value_text(template), "min_spend": _money(template.min_spend)},
        "customer": {"id": coupon.customer_id, "nickname": customer.nickname if customer else None,
                     "phone": (mask_phone(customer.phone) if role == "guide" else customer.phone) if customer else None},
        "source": coupon.source,
        "issued_at": _iso(coupon.issued_at),
        "valid_from": _iso(coupon.valid_from),
        "valid_until": _iso(coupon.valid_until),
        "stores": store_codes(db_session=db_session, template_id=template.id),
        "redeemed_at": _iso(coupon.redeemed_at),
        "redeemed_by": _redeemed_by(db_session, coupon),
        "voided_at": _iso(coupon.voided_at),
        "void_reason": coupon.void_reason,
        "expired_at": _iso(coupon.expired_at),
        "announce_state": coupon.announce_state,
    }


def redeemed_json(row: Any, counter: Any, *, role: str, redeemed_at: str) -> dict[str, Any]:
    """The coupon just redeemed, from what the redemption read (scrm/coupons/redemption.py
    ``Outcome.coupon``) and who redeemed it: no query of its own, on the hot path."""
    return {
        "id": row.id,
        "code": display(row.code),
        "status": "redeemed",
        "template": {"id": row.template_id, "name": row.template_name, "kind": row.kind,
                     "value_text": value_text(row), "min_spend": _money(row.min_spend)},
        "customer": {"id": row.customer_id, "nickname": row.nickname,
                     "phone": mask_phone(row.phone) if role == "guide" else row.phone},
        "issued_at": _iso(row.issued_at),
        "valid_from": _iso(row.valid_from),
        "valid_until": _iso(row.valid_until),
        "redeemed_at": redeemed_at,
        "redeemed_by": {"guide": counter.guide_code, "guide_name": counter.guide_name, "store": counter.store_code,
                        "store_name": counter.store_name, "user_id": counter.user_id},
    }


def _redeemed_by(db_session: Session, coupon: Coupon) -> dict[str, Any] | None:
    if coupon.redeemed_at is None:
        return None
    guide = db_session.execute(select(Guide.code, Guide.name).where(Guide.id == coupon.redeemed_guide_id)).first()
    store = db_session.execute(select(Store.code, Store.name).where(Store.id == coupon.redeemed_store_id)).first()
    return {"guide": guide.code if guide else None, "guide_name": guide.name if guide else None,
            "store": store.code if store else None, "store_name": store.name if store else None,
            "user_id": coupon.redeemed_user_id}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def _yuan(value: Decimal | None) -> str:
    number = Decimal(value or 0)
    return str(number.quantize(Decimal(1))) if number == number.to_integral() else str(number.quantize(Decimal("0.01")))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()
