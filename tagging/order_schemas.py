"""What ``POST /api/orders`` accepts, validated once here (SPEC §11).

An order comes from the brand's order system: ``order_no`` (1-64 characters, outer spaces
stripped), ``amount`` (a decimal string or a JSON number, over 0, at most 2 decimals and at
most 10,000,000; a float is read by its shortest decimal form, so ``19.9`` is 19.90 while
``0.1 + 0.2`` is refused), ``ordered_at`` (ISO 8601 with a zone, at most 5 minutes ahead of
our clock), ``customer`` (exactly one of ``openid``, ``external_userid``, ``phone``), and
optional ``store_code``/``guide_code``. Phones are compared normalised: separators dropped,
a leading ``+86`` dropped, digits only (``+86 138-0013-8000`` → ``13800138000``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator, model_validator
from scrm.errors import InvalidInput

ORDER_NO_MAX_CHARS = 64
CODE_MAX_CHARS = 32  # stores' and guides' codes (orders.store_code, orders.guide_code)
EXTERNAL_ID_MAX_CHARS = 64
AMOUNT_MAX = Decimal("10000000")
CENT = Decimal("0.01")
FUTURE_TOLERANCE = timedelta(minutes=5)  # the order system's clock may run a little ahead
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\ufffe\uffff]")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE_DIGITS = re.compile(r"[0-9]{5,20}")


class InvalidOrder(InvalidInput):
    """Bad input for an order; ``field`` names the first offending field ("customer.phone")."""


def normalise_phone(raw: str) -> str:
    """Digits only, without the +86 country code; ValueError if that leaves no phone number."""
    phone = _PHONE_SEPARATORS.sub("", raw)
    phone = phone.removeprefix("+86")
    if not _PHONE_DIGITS.fullmatch(phone):
        raise ValueError("must be a phone number: digits, optionally +86 first")
    return phone


def parse_amount(value: Any) -> Decimal:
    """Yuan as an exact Decimal with 2 places; ValueError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a decimal string or a number, e.g. \"199.00\"")
    text = value.strip() if isinstance(value, str) else repr(value)
    if isinstance(value, str) and not _DECIMAL.fullmatch(text):
        raise ValueError("must be a decimal number like \"199.00\" (digits, at most one point, no sign or exponent)")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a decimal number like \"199.00\"") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("has more than 2 decimal places")
    if amount <= 0:
        raise ValueError("must be more than 0")
    if amount > AMOUNT_MAX:
        raise ValueError(f"must be at most {AMOUNT_MAX:,}")
    return amount.quantize(CENT)


def _printable(value: str, max_chars: int) -> str:
    value = value.strip()
    if not 1 <= len(value) <= max_chars:
        raise ValueError(f"must be 1-{max_chars} characters")
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


class CustomerRefIn(BaseModel):
    """Exactly one way to find the customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    openid: StrictStr | None = None
    external_userid: StrictStr | None = None
    phone: StrictStr | None = None

    @field_validator("openid", "external_userid")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value, EXTERNAL_ID_MAX_CHARS)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerRefIn:
        if sum(v is not None for v in (self.openid, self.external_userid, self.phone)) != 1:
            raise InvalidOrder("customer", "give exactly one of openid, external_userid or phone")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """("openid" | "external_userid" | "phone", the value)."""
        for name in ("openid", "external_userid", "phone"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise AssertionError("validated: exactly one is set")


class _OrderFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: StrictStr
    amount: Any
    ordered_at: StrictStr
    customer: CustomerRefIn
    store_code: StrictStr | None = None
    guide_code: StrictStr | None = None

    @field_validator("order_no")
    @classmethod
    def _order_no(cls, value: str) -> str:
        return _printable(value, ORDER_NO_MAX_CHARS)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @field_validator("ordered_at")
    @classmethod
    def _ordered_at(cls, value: str) -> str:
        _parse_moment(value)
        return value

    @field_validator("store_code", "guide_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else _printable(value, CODE_MAX_CHARS)


@dataclass(frozen=True)
class OrderIn:
    """A valid order: ``amount`` has 2 places, ``ordered_at`` is in UTC."""

    order_no: str
    amount: Decimal
    ordered_at: datetime
    customer: CustomerRefIn
    store_code: str | None
    guide_code: str | None


def parse_order(data: Mapping[str, Any], *, now: datetime) -> OrderIn:
    """A valid :class:`OrderIn` from JSON-like data, or :class:`InvalidOrder` naming the field."""
    try:
        fields = _OrderFields.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidOrder.from_validation(exc, what="an order") from None
    ordered_at = _parse_moment(fields.ordered_at)
    if ordered_at > now + FUTURE_TOLERANCE:
        raise InvalidOrder("ordered_at", f"is in the future (our clock says {now.isoformat(timespec='seconds')})")
    return OrderIn(
        order_no=fields.order_no,
        amount=fields.amount,
        ordered_at=ordered_at,
        customer=fields.customer,
        store_code=fields.store_code,
        guide_code=fields.guide_code,
    )


def _parse_moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-11-01T10:30:00+08:00") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("must carry a time zone, e.g. +08:00 or Z")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if moment < EARLIEST:
        raise ValueError("is before 1970")
    return moment

