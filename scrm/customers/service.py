"""Customers (SPEC §4): identities on first contact, follow state, the timeline, merges.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm.customers.models import CHANNELS, Customer, CustomerIdentity, Interaction


class UnknownChannel(ValueError):
    pass


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Interaction]
    next_before_id: int | None


def contact(*, db_session: Session, channel: str, external_id: str) -> tuple[CustomerIdentity, bool]:
    """The identity for ``channel``/``external_id`` and whether this is the first contact
    (identity and customer created now). Two processes meeting a new customer at once end
    with one identity."""
    if channel not in CHANNELS:
        raise UnknownChannel(channel)
    identity = find_identity(db_session=db_session, channel=channel, external_id=external_id)
    if identity is not None:
        return identity, False
    try:
        with db_session.begin_nested():
            customer = Customer()
            db_session.add(customer)
            db_session.flush()
            identity = CustomerIdentity(customer_id=customer.id, channel=channel, external_id=external_id)
            db_session.add(identity)
            db_session.flush()
        return identity, True
    except IntegrityError:
        found = find_identity(db_session=db_session, channel=channel, external_id=external_id)
        assert found is not None, "the unique constraint fired, so the other row exists"
        return found, False


def find_identity(*, db_session: Session, channel: str, external_id: str) -> CustomerIdentity | None:
    return db_session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id)
    )


def set_following(*, identity: CustomerIdentity, following: bool, at: datetime) -> None:
    identity.following = following
    if following:
        identity.followed_at = at
    else:
        identity.unfollowed_at = at


def record_interaction(
    *,
    db_session: Session,
    identity: CustomerIdentity,
    kind: str,
    occurred_at: datetime,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> Interaction:
    entry = Interaction(
        customer_id=identity.customer_id,
        identity_id=identity.id,
        kind=kind,
        channel=identity.channel,
        occurred_at=occurred_at,
        payload=payload,
        dedupe_key=dedupe_key,
    )
    db_session.add(entry)
    db_session.flush()
    return entry


def attach_profile(
    *, db_session: Session, identity_id: int, unionid: str | None, nickname: str | None = None
) -> Customer:
    """Record what WeChat told us of a customer. An identity whose ``unionid`` another
    customer already has is the same person: the two customers are merged."""
    identity = db_session.get(CustomerIdentity, identity_id)
    if identity is None:
        raise LookupError(f"identity {identity_id} not found")
    customer = db_session.get(Customer, identity.customer_id)
    assert customer is not None
    if nickname and not customer.nickname:
        customer.nickname = nickname
    if not unionid or customer.unionid == unionid:
        return customer
    owner = db_session.scalar(select(Customer).where(Customer.unionid == unionid))
    if owner is None:
        customer.unionid = unionid
        return customer
    return merge_customers(db_session=db_session, keep=owner, drop=customer)


def merge_customers(*, db_session: Session, keep: Customer, drop: Customer) -> Customer:
    """Move ``drop``'s identities and history onto ``keep``; ``drop`` remains as a pointer."""
    if keep.id == drop.id:
        return keep
    db_session.execute(
        update(CustomerIdentity).where(CustomerIdentity.customer_id == drop.id).values(customer_id=keep.id)
    )
    # The timeline is append-only, but its entries may change hands: a bulk UPDATE of
    # customer_id alone.
    db_session.execute(update(Interaction).where(Interaction.customer_id == drop.id).values(customer_id=keep.id))
    keep.nickname = keep.nickname or drop.nickname
    keep.phone = keep.phone or drop.phone
    drop.merged_into_id = keep.id
    db_session.flush()
    db_session.expire_all()
    return keep


def resolve(*, db_session: Session, customer_id: int) -> Customer | None:
    """The customer, following merges to the one that now holds the history."""
    customer = db_session.get(Customer, customer_id)
    seen = set()
    while customer is not None and customer.merged_into_id is not None and customer.id not in seen:
        seen.add(customer.id)
        customer = db_session.get(Customer, customer.merged_into_id)
    return customer


def lookup(*, db_session: Session, channel: str, external_id: str) -> Customer | None:
    identity = find_identity(db_session=db_session, channel=channel, external_id=external_id)
    return None if identity is None else resolve(db_session=db_session, customer_id=identity.customer_id)


def identities_of(*, db_session: Session, customer_id: int) -> list[CustomerIdentity]:
    return list(
        db_session.scalars(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id).order_by(CustomerIdentity.id)
        )
    )


def timeline(*, db_session: Session, customer_id: int, before_id: int | None = None, limit: int = 50) -> TimelinePage:
    """Newest first, ``limit`` at a time; pass ``next_before_id`` back for the next page."""
    query = select(Interaction).where(Interaction.customer_id == customer_id)
    if before_id is not None:
        query = query.where(Interaction.id < before_id)
    entries = list(db_session.scalars(query.order_by(Interaction.id.desc()).limit(limit + 1)))
    more = len(entries) > limit
    entries = entries[:limit]
    return TimelinePage(entries, entries[-1].id if more and entries else None)
