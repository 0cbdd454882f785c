"""Customers (SPEC §4): identities on first contact, follow state, the timeline, merges.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from scrm.customers.models import CHANNELS, Customer, CustomerIdentity, Interaction
from scrm.db import dialect_insert


class UnknownChannel(ValueError):
    pass


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Interaction]
    next_before_id: int | None


@dataclass(frozen=True)
class IdentityRef:
    """An identity as the webhook path needs it: ids, no ORM object."""

    id: int
    customer_id: int
    channel: str
    following: bool


_identities = CustomerIdentity.__table__
_customers = Customer.__table__
# Built once: the webhook runs these for every callback.
_SELECT_IDENTITY = select(_identities.c.id, _identities.c.customer_id, _identities.c.following).where(
    _identities.c.channel == bindparam("channel"), _identities.c.external_id == bindparam("external_id")
)
_INSERT_CUSTOMER = insert(_customers).returning(_customers.c.id)
_INSERT_INTERACTION = insert(Interaction.__table__)


def contact(*, db_session: Session, channel: str, external_id: str,
            at: datetime | None = None) -> tuple[IdentityRef, bool]:
    """The identity for ``channel``/``external_id`` and whether this is the first contact
    (identity and customer created now). Two processes meeting a new customer at once end
    with one identity. Core statements: this runs for every callback.

    ``at`` is when a new customer was first seen: the app's clock, as every other time we record
    (a backfilled history or a test's frozen clock, not the database server's now())."""
    if channel not in CHANNELS:
        raise UnknownChannel(channel)
    connection = db_session.connection()
    key = {"channel": channel, "external_id": external_id}
    row = connection.execute(_SELECT_IDENTITY, key).first()
    if row is not None:
        return IdentityRef(row.id, row.customer_id, channel, row.following), False
    seen = {"created_at": at} if at is not None else {}
    customer_id = connection.execute(_INSERT_CUSTOMER, seen).scalar_one()
    identity_id = connection.execute(
        dialect_insert(db_session, _identities)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(_identities.c.id),
        {**key, "customer_id": customer_id, **seen},
    ).scalar()
    if identity_id is None:  # another process created it a moment ago: use theirs
        connection.execute(delete(_customers).where(_customers.c.id == customer_id))
        row = connection.execute(_SELECT_IDENTITY, key).one()
        return IdentityRef(row.id, row.customer_id, channel, row.following), False
    return IdentityRef(identity_id, customer_id, channel, False), True


def find_identity(*, db_session: Session, channel: str, external_id: str) -> CustomerIdentity | None:
    return db_session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id)
    )


def set_following(*, db_session: Session, identity: IdentityRef, following: bool, at: datetime) -> None:
    moment = {"followed_at": at} if following else {"unfollowed_at": at}
    db_session.connection().execute(
        update(_identities).where(_identities.c.id == identity.id).values(following=following, **moment)
    )


def record_interaction(
    *,
    db_session: Session,
    identity: IdentityRef,
    kind: str,
    occurred_at: datetime,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> None:
    db_session.connection().execute(
        _INSERT_INTERACTION,
        {
            "customer_id": identity.customer_id,
            "identity_id": identity.id,
            "kind": kind,
            "channel": identity.channel,
            "occurred_at": occurred_at,
            "payload": payload,
            "dedupe_key": dedupe_key,
        },
    )


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
    """Move ``drop``'s identities and history onto ``keep``; ``drop`` remains as a pointer. What
    other domains hold of ``drop`` (tags, bindings, orders, coupons) is moved by
    :func:`scrm.flows.merge_customers`, which callers use."""
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


def nickname_of(*, db_session: Session, customer_id: int) -> str | None:
    return db_session.scalar(select(Customer.nickname).where(Customer.id == customer_id))


def resolve(*, db_session: Session, customer_id: int) -> Customer | None:
    """The customer, following merges to the one that now holds the history."""
    customer = db_session.get(Customer, customer_id)
    seen = set()
    while customer is not None and customer.merged_into_id is not None and customer.id not in seen:
        seen.add(customer.id)
        customer = db_session.get(Customer, customer.merged_into_id)
    return customer


def set_birthday(*, db_session: Session, customer_id: int, birthday: date | None) -> Customer | None:
    """Set (or forget) the customer's birthday, on the survivor of a merge; None: no such customer."""
    customer = resolve(db_session=db_session, customer_id=customer_id)
    if customer is not None:
        customer.birthday = birthday
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
