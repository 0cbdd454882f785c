"""What a manager may change on a customer (``PATCH /api/customers/<id>``): the birthday, which
the birthday journey reads (scrm/outreach/daily_triggers.py); and customers as the JSON API
shows them, phone numbers masked for guides (SPEC §12)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from scrm.errors import InvalidInput, validated

if TYPE_CHECKING:
    from scrm.customers.models import Customer, CustomerIdentity, Interaction
    from scrm.web.auth import Caller

EARLIEST_BIRTHDAY = date(1900, 1, 1)


class InvalidCustomer(InvalidInput):
    pass


def _iso_day(value: Any) -> Any:  # noqa: ANN401
    """Only ``YYYY-MM-DD`` (pydantic would also take a number as a timestamp)."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD, or null to forget it")
    return value


class CustomerChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birthday: Annotated[date | None, BeforeValidator(_iso_day)]


def parse_change(body: Mapping[str, Any], *, today: date) -> CustomerChangeIn:
    """The change, or :class:`InvalidCustomer` naming the field: a birthday after ``today`` (the
    brand's local day) or before 1900 is a typo."""
    change = validated(CustomerChangeIn, body, error=InvalidCustomer, what="customer")
    if change.birthday is not None and not EARLIEST_BIRTHDAY <= change.birthday <= today:
        raise InvalidCustomer("birthday", f"must be between {EARLIEST_BIRTHDAY} and today ({today})")
    return change


# ---- output ---------------------------------------------------------------------------------

def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def customer_json(customer: Customer, identities: list[CustomerIdentity], caller: Caller) -> dict[str, Any]:
    return {
        "id": customer.id,
        "nickname": customer.nickname,
        "unionid": customer.unionid,
        "phone": mask_phone(customer.phone) if caller.role == "guide" else customer.phone,
        "birthday": customer.birthday.isoformat() if customer.birthday else None,
        "created_at": _iso(customer.created_at),
        "identities": [
            {
                "channel": i.channel,
                "external_id": i.external_id,
                "following": i.following,
                "followed_at": _iso(i.followed_at),
                "unfollowed_at": _iso(i.unfollowed_at),
            }
            for i in identities
        ],
    }


def interaction_json(entry: Interaction) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "channel": entry.channel,
        "occurred_at": _iso(entry.occurred_at),
        "payload": entry.payload,
    }


def _iso(value: Any) -> str | None:  # noqa: ANN401
    return value.isoformat() if value is not None else None


# ---- described in /api/openapi.json ---------------------------------------------------------


class IdentityOut(BaseModel):
    channel: str = Field(description="mp (Official Account) or work (WeCom)")
    external_id: str = Field(description="the openid or external_userid")
    following: bool
    followed_at: str | None
    unfollowed_at: str | None


class CustomerOut(BaseModel):
    id: int
    nickname: str | None
    unionid: str | None
    phone: str | None = Field(description="masked for a guide")
    birthday: str | None
    created_at: str | None
    identities: list[IdentityOut]


class InteractionOut(BaseModel):
    id: int
    kind: str
    channel: str | None
    occurred_at: str | None
    payload: dict[str, Any]


class CustomerProfileOut(CustomerOut):
    timeline: list[InteractionOut] = Field(description="newest first, ``limit`` of them")
    next_before: int | None = Field(description="``?before=`` for the next page; null on the last")
