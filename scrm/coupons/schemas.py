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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scrm.errors import InvalidInput, validated
from scrm.validators import Moment
from scrm.validators import text as bounded_text
from tagging.order_schemas import CustomerRefIn, parse_amount

STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_STOCK = 100_000_000
VALUE_FIELD = {"cash": "amount", "discount": "discount", "gift": "gift"}  # what each kind gives


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
StoreCode = Annotated[str, AfterValidator(_store_code)]


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

    template_id: Annotated[int, Field(ge=1, strict=True)]
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

    template_id: Annotated[int, Field(ge=1, strict=True)]
    customer: CustomerRefIn | None = None
    customer_id: Annotated[int, Field(ge=1, strict=True)] | None = None

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
