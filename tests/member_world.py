"""Test data for membership (scrm/members): members, points, through the real services."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from coupon_world import make_customer
from scrm.members import ledger, service

_phones = itertools.count(13_900_000_000)


def make_member(runtime, *, phone: str | None = None, openid: str | None = None, nickname: str | None = None,  # noqa: ANN001
                at: datetime | None = None) -> int:
    """A new customer who joined the membership; their customer id."""
    phone = phone or str(next(_phones))
    customer_id = make_customer(runtime, openid=openid, nickname=nickname, phone=phone)
    with runtime.transaction() as db_session:
        service.create_member(db_session=db_session, config=runtime.config, customer_id=customer_id, phone=phone,
                              at=at or runtime.clock.now(), joined_via="test")
    return customer_id


def grant(runtime, customer_id: int, amount: int, *, key: str | None = None, at: datetime | None = None,  # noqa: ANN001
          frozen_days: int = 0, expires_at: datetime | None = None) -> int:
    """A lot of ``amount`` points; its entry id."""
    at = at or runtime.clock.now()
    with runtime.transaction() as db_session:
        posted = ledger.earn(db_session=db_session, config=runtime.config, customer_id=customer_id, amount=amount,
                             kind="grant", source="grant", source_id=None,
                             key=key or f"test-grant:{customer_id}:{next(_keys)}", at=at,
                             available_at=at + timedelta(days=frozen_days), expires_at=expires_at)
        return posted.entry.id


_keys = itertools.count(1)
