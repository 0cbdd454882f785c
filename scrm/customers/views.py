"""Customers as JSON. Phone numbers are masked for guides (SPEC §12)."""

from __future__ import annotations

from typing import Any

from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.web.auth import Caller


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


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
