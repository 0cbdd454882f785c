"""What the coupon API and console accept, validated once here (SPEC §7, §11).

A template is one of three kinds, each with the value that makes sense for it:

- ``cash`` (减): ``amount`` in yuan off, optionally ``min_spend`` (满 N 可用);
- ``discount`` (折): ``discount`` as Chinese shops write it, 0.1-9.9 (``8.5`` = pay 85 %),
  optionally ``min_spend``;
- ``gift`` (赠品): ``gift``, the thing given.

Validity is ``{"valid_from", "valid_until"}`` (fixed dates, ISO 8601 with a zone) or
``{"valid_days": N}`` (N days from the moment of issue, 1-3650). ``stock`` (total that may ever
be issued; omitted: no limit) and ``per_customer_limit`` (default 1; ``null``: no limit).
``stores``: store codes where it may be redeemed (omitted or empty: every store).

What the API answers is written here too: templates, rules, coupons and audited attempts as
JSON, and a coupon's value and state as the words a customer or guide reads. A guide sees a
customer's phone number masked (SPEC §12).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scrm.clock import as_utc
from scrm.coupons.codes import display
from scrm.coupons.coupon_templates import store_codes
from scrm.coupons.models import Coupon, CouponAttempt, CouponRule, CouponTemplate, stock_left
from scrm.coupons.redemption import redeemed_by
from scrm.customers.models import Customer
from scrm.customers.schemas import mask_phone
from scrm.errors import InvalidInput, validated
from scrm.texts import say
from scrm.validators import BigIntId, IntId, Moment, described
from scrm.validators import text as bounded_text
from tagging.schemas import CustomerRefIn, parse_amount

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_STOCK = 100_000_000
VALUE_FIELD = {"cash": "amount", "discount": "discount", "gift": "gift"}  # what each kind gives
STATUS_WORDS = {"issued": "可使用 ready to use", "redeemed": "已使用 used", "voided": "已作废 voided",
                "expired": "已过期 expired"}


class InvalidCouponInput(InvalidInput):
    """Bad coupon input; ``field`` names the first offending field."""


def _money(value: Any) -> Decimal:
    return parse_amount(value)


def _discount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a number like 8.5 (8.5折 = pay 85 %)")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError("must be a number like 8.5 (8.5折 = pay 85 %)") from None
    if not number.is_finite() or number.as_tuple().exponent < -1:  # type: ignore[operator]
        raise ValueError("must have at most one decimal place, like 8.5")
    if not Decimal("0.1") <= number <= Decimal("9.9"):
        raise ValueError("must be between 0.1 and 9.9 (8.5折 = pay 85 %)")
    return number


def _store_code(value: str) -> str:
    value = value.strip()
    if not STORE_CODE.match(value):
        raise ValueError("must be a store code: 1-32 letters, digits, _ or -")
    return value


Money = Annotated[Decimal, BeforeValidator(_money)]
Discount = Annotated[Decimal, BeforeValidator(_discount)]
StoreCode = Annotated[str, AfterValidator(_store_code), described(pattern=STORE_CODE.pattern)]


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    name: Annotated[str, bounded_text(64)]
    kind: Literal["cash", "discount", "gift"]
    amount: Money | None = None
    discount: Discount | None = None
    gift: Annotated[str, bounded_text(64)] | None = None
    min_spend: Money | None = None
    description: Annotated[str, bounded_text(500)] | None = None
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    valid_days: Annotated[int, Field(ge=1, le=3650, strict=True)] | None = None
    stock: Annotated[int, Field(ge=1, le=MAX_STOCK, strict=True)] | None = None
    per_customer_limit: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = 1
    remind_days_before: Annotated[int, Field(ge=0, le=365, strict=True)] | None = None
    stores: list[StoreCode] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _kind_and_validity(self) -> TemplateIn:
        needs = VALUE_FIELD[self.kind]
        if getattr(self, needs) is None:
            raise ValueError(f"{needs}: a {self.kind} coupon needs its {needs}")
        for other in sorted(set(VALUE_FIELD.values()) - {needs}):
            if getattr(self, other) is not None:
                raise ValueError(f"{other}: a {self.kind} coupon has no {other}")
        if self.kind == "gift" and self.min_spend is not None:
            raise ValueError("min_spend: a gift coupon has no minimum spend")
        fixed = self.valid_from is not None or self.valid_until is not None
        if fixed == (self.valid_days is not None):
            raise ValueError("validity: give valid_from and valid_until (fixed dates) or valid_days, not both")
        if fixed and (self.valid_from is None or self.valid_until is None):
            raise ValueError("valid_until: fixed dates need both valid_from and valid_until")
        if fixed and self.valid_until <= self.valid_from:  # type: ignore[operator]
            raise ValueError("valid_until: must be after valid_from")
        self.stores = sorted(set(self.stores))
        return self


class TemplateChangeIn(BaseModel):
    """What may change once coupons are out: status, stock (not below what was issued), the
    reminder, the description. Value and validity stay: they are what customers were given."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "paused"] | None = None
    stock: Annotated[int, Field(ge=1, le=MAX_STOCK, strict=True)] | None = None
    unlimited_stock: bool = False
    remind_days_before: Annotated[int, Field(ge=0, le=365, strict=True)] | None = None
    description: Annotated[str, bounded_text(500)] | None = None


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: IntId
    trigger: Literal["binding", "first_order", "order_over"]
    min_amount: Money | None = None

    @model_validator(mode="after")
    def _amount_for_order_over(self) -> RuleIn:
        if self.trigger == "order_over" and self.min_amount is None:
            raise ValueError("min_amount: an order_over rule needs the amount an order must reach")
        if self.trigger != "order_over" and self.min_amount is not None:
            raise ValueError(f"min_amount: only order_over rules have one, not {self.trigger}")
        return self


class IssueIn(BaseModel):
    """Issue by hand: a template to a customer (by openid, external_userid, phone or id)."""

    model_config = ConfigDict(extra="forbid")

    template_id: IntId
    customer: CustomerRefIn | None = None
    customer_id: BigIntId | None = None

    @model_validator(mode="after")
    def _one_customer(self) -> IssueIn:
        if (self.customer is None) == (self.customer_id is None):
            raise ValueError("customer: give customer ({openid|external_userid|phone}) or customer_id")
        return self


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=40)]
    store_code: StoreCode | None = None  # admins and managers say where; a guide's is their store


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, bounded_text(200)]


def parse(model: type[BaseModel], body: Mapping[str, Any], *, what: str) -> Any:
    """The validated input, or :class:`InvalidCouponInput` naming every bad field."""
    return validated(model, body, error=InvalidCouponInput, what=what)


# ---- what the API answers ------------------------------------------------------------------

def value_text(template: CouponTemplate, locale: str = "zh_CN") -> str:
    """What the coupon gives, as it is printed (in ``locale``): 满100减¥20, 8.5折, a gift."""
    spend = _yuan(template.min_spend) if template.min_spend else None
    over = "_over" if spend else ""
    if template.kind == "cash":
        return say(locale, f"coupons.value.cash{over}", spend=spend, amount=_yuan(template.amount))
    if template.kind == "discount":
        discount = Decimal(template.discount).normalize()
        percent = ((10 - Decimal(template.discount)) * 10).normalize()
        return say(locale, f"coupons.value.discount{over}", spend=spend, discount=discount, percent=f"{percent:f}")
    return say(locale, "coupons.value.gift", gift=template.gift)


def template_json(db_session: Session, template: CouponTemplate, *, redeemed: int | None = None) -> dict[str, Any]:
    body = {
        "id": template.id,
        "name": template.name,
        "kind": template.kind,
        "amount": _money_text(template.amount),
        "discount": str(Decimal(template.discount).normalize()) if template.discount is not None else None,
        "gift": template.gift,
        "min_spend": _money_text(template.min_spend),
        "value_text": value_text(template),
        "description": template.description,
        "valid_from": _iso(template.valid_from),
        "valid_until": _iso(template.valid_until),
        "valid_days": template.valid_days,
        "stock": template.stock,
        "issued": template.issued_count,
        "left": stock_left(template.stock, template.issued_count),
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
            "min_amount": _money_text(rule.min_amount), "active": rule.active, "created_at": _iso(rule.created_at)}


def coupon_json(db_session: Session, coupon: Coupon, *, role: str | None = None) -> dict[str, Any]:
    template = coupon.template
    customer = db_session.get(Customer, coupon.customer_id)
    return {
        "id": coupon.id,
        "code": display(coupon.code or ""),
        "status": coupon.status,
        "template": {"id": template.id, "name": template.name, "kind": template.kind,
                     "value_text": value_text(template), "min_spend": _money_text(template.min_spend)},
        "customer": {"id": coupon.customer_id, "nickname": customer.nickname if customer else None,
                     "phone": (mask_phone(customer.phone) if role == "guide" else customer.phone) if customer else None},
        "source": coupon.source,
        "issued_at": _iso(coupon.issued_at),
        "valid_from": _iso(coupon.valid_from),
        "valid_until": _iso(coupon.valid_until),
        "stores": store_codes(db_session=db_session, template_id=template.id),
        "redeemed_at": _iso(coupon.redeemed_at),
        "redeemed_by": redeemed_by(db_session=db_session, coupon=coupon),
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
                     "value_text": value_text(row), "min_spend": _money_text(row.min_spend)},
        "customer": {"id": row.customer_id, "nickname": row.nickname,
                     "phone": mask_phone(row.phone) if role == "guide" else row.phone},
        "issued_at": _iso(row.issued_at),
        "valid_from": _iso(row.valid_from),
        "valid_until": _iso(row.valid_until),
        "redeemed_at": redeemed_at,
        "redeemed_by": {"guide": counter.guide_code, "guide_name": counter.guide_name, "store": counter.store_code,
                        "store_name": counter.store_name, "user_id": counter.user_id},
    }


def attempt_json(attempt: CouponAttempt) -> dict[str, Any]:
    return {"id": attempt.id, "at": as_utc(attempt.at).isoformat(), "action": attempt.action,
            "result": attempt.result, "code": attempt.code, "coupon_id": attempt.coupon_id,
            "user_id": attempt.user_id, "guide_id": attempt.guide_id, "store_id": attempt.store_id,
            "reason": attempt.reason, "detail": attempt.detail}


def _money_text(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def _yuan(value: Decimal | None) -> str:
    number = Decimal(value or 0)
    return str(number.quantize(Decimal(1))) if number == number.to_integral() else str(number.quantize(Decimal("0.01")))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


# ---- described in /api/openapi.json ---------------------------------------------------------


class RuleActiveIn(BaseModel):
    """``PATCH /api/coupon-rules/<id>``: turn a rule on or off."""

    model_config = ConfigDict(extra="forbid")

    active: bool


class CouponRuleOut(BaseModel):
    id: int
    template_id: int
    trigger: str
    min_amount: str | None
    active: bool
    created_at: str | None


class CouponRuleListOut(BaseModel):
    rules: list[CouponRuleOut]


class TemplateOut(BaseModel):
    id: int
    name: str
    kind: str = Field(description="cash, discount or gift")
    amount: str | None
    discount: str | None
    gift: str | None
    min_spend: str | None
    value_text: str = Field(description="what the coupon gives, as printed")
    description: str | None
    valid_from: str | None
    valid_until: str | None
    valid_days: int | None
    stock: int | None
    issued: int
    left: int | None
    per_customer_limit: int | None
    remind_days_before: int | None
    stores: list[str]
    status: str
    created_at: str | None
    redeemed: int | None = None


class TemplateDetailOut(TemplateOut):
    rules: list[CouponRuleOut]


class TemplateListOut(BaseModel):
    templates: list[TemplateOut]


class CouponTemplateRef(BaseModel):
    id: int
    name: str
    kind: str
    value_text: str
    min_spend: str | None


class CouponCustomerRef(BaseModel):
    id: int
    nickname: str | None
    phone: str | None = Field(description="masked for a guide")


class CouponOut(BaseModel):
    id: int
    code: str
    status: str = Field(description="issued, redeemed, voided or expired")
    template: CouponTemplateRef
    customer: CouponCustomerRef
    source: str | None = None
    issued_at: str | None
    valid_from: str | None
    valid_until: str | None
    stores: list[str] | None = None
    redeemed_at: str | None
    redeemed_by: dict[str, Any] | None
    voided_at: str | None = None
    void_reason: str | None = None
    expired_at: str | None = None
    announce_state: str | None = None


class CouponListOut(BaseModel):
    coupons: list[CouponOut]


class CouponCheckOut(CouponOut):
    """``GET /api/coupons/<code>``: the coupon and whether it can be redeemed here now."""

    redeemable: bool
    refusal: dict[str, Any] | None = Field(description="``{error, message, …}``: why not")


class RedeemedOut(BaseModel):
    result: Literal["redeemed"]
    coupon: CouponOut
    credited_guide_id: int | None


class StatsRowOut(BaseModel):
    key: Any = Field(description="the template's, store's or guide's id, the day, or all")
    label: str
    issued: int
    redeemed: int
    expired: int
    redemption_rate: float | None


class CouponStatsOut(BaseModel):
    by: str
    first_day: str
    last_day: str
    rows: list[StatsRowOut]
    totals: StatsRowOut


class AttemptOut(BaseModel):
    id: int
    at: str
    action: str = Field(description="redeem, void or unredeem")
    result: str = Field(description="ok, or the refusal's code")
    code: str
    coupon_id: int | None
    user_id: int | None
    guide_id: int | None
    store_id: int | None
    reason: str | None
    detail: dict[str, Any]


class AttemptListOut(BaseModel):
    attempts: list[AttemptOut]
