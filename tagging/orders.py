"""Orders (SPEC §4, §5, §11): what the brand's order system posts, idempotent on ``order_no``.

A new order lands once: the row, a ``purchase`` entry on the customer's timeline, the
customer's computed tags (RFM, lifecycle) recomputed, and purchase ``event`` rules applied
(:func:`on_purchase`); what a new order sets off in other domains (the guide's credit, order
coupons, the ``purchase`` trigger, a member's points) is :func:`scrm.flows.record_order`'s. The
same order posted again changes nothing and returns the stored order; the same ``order_no``
with other content (``points_used`` included) is a :class:`OrderConflict`. Refunds are
tagging/refunds.py's.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scrm.clock import as_utc
from scrm.customers import service as customers
from scrm.customers.models import Customer, Interaction
from scrm.db import dialect_insert
from scrm.errors import ConflictError, Refused
from tagging.apply import apply_event_rules
from tagging.computed import recompute_customer
from tagging.models import Order
from tagging.schemas import CustomerRefIn, OrderIn

if TYPE_CHECKING:
    from scrm.runtime import Runtime

_CHANNEL_OF = {"openid": "mp", "external_userid": "work"}


class UnknownCustomer(Refused):
    """No customer (or more than one, for a phone) matches the order's customer reference
    (422 ``unknown_customer``): ``message`` is "<field>: <reason>", ``reason`` the wording alone."""

    code = "unknown_customer"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.field = field
        self.reason = reason


class OrderConflict(ConflictError):
    """The order_no is taken by an order with other content (409, with the ``fields`` that
    differ and the ``existing`` order)."""

    def __init__(self, order: Order, fields: list[str]) -> None:
        existing = order_json(order)  # read now: the transaction is rolled back next
        super().__init__(f"order {order.order_no} exists already with another {', '.join(fields)}",
                         fields=fields, existing=existing)
        self.fields = fields
        self.existing = existing


@dataclass(frozen=True)
class FoundCustomer:
    customer_id: int
    identity_id: int | None  # the identity the order named, when it named one
    channel: str | None


def record_order(*, runtime: Runtime, db_session: Session, order_in: OrderIn) -> tuple[Order, bool]:
    """The order and whether it is new (False: the same order was recorded before)."""
    existing = _by_order_no(db_session, order_in.order_no)
    if existing is not None:
        return _same_or_conflict(db_session, existing, order_in), False
    found = find_customer(db_session=db_session, ref=order_in.customer)
    now = runtime.clock.now()
    values = {
        "order_no": order_in.order_no,
        "customer_id": found.customer_id,
        "amount": order_in.amount,
        "ordered_at": order_in.ordered_at,
        "store_code": order_in.store_code,
        "guide_code": order_in.guide_code,
        "points_used": order_in.points_used,
        "created_at": now,
    }
    order_id = db_session.execute(
        dialect_insert(db_session, Order.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["order_no"])
        .returning(Order.__table__.c.id)
    ).scalar()
    if order_id is None:  # posted twice at once: the other request recorded it a moment ago
        return _same_or_conflict(db_session, _by_order_no(db_session, order_in.order_no), order_in), False
    db_session.add(
        Interaction(
            customer_id=found.customer_id,
            identity_id=found.identity_id,
            channel=found.channel,
            kind="purchase",
            occurred_at=order_in.ordered_at,
            dedupe_key=f"order:{order_in.order_no}",
            payload={
                "order_no": order_in.order_no,
                "amount": str(order_in.amount),
                "store_code": order_in.store_code,
                "guide_code": order_in.guide_code,
            },
        )
    )
    db_session.flush()
    recompute_customer(runtime, db_session, found.customer_id)
    on_purchase(runtime, db_session, found.customer_id)
    return db_session.get(Order, order_id), True


def on_purchase(runtime: Runtime, db_session: Session, customer_id: int) -> None:
    """Apply the ``purchase`` event tag rules (SPEC §5), once per new order, inside its
    transaction. The computed tags (RFM, lifecycle) are not rules: record_order recomputes
    them itself."""

    apply_event_rules(runtime, db_session, customer_id=customer_id, event="purchase")


def find_customer(*, db_session: Session, ref: CustomerRefIn) -> FoundCustomer:
    """The customer an order names (following merges), or :class:`UnknownCustomer`."""
    kind, value = ref.key
    if kind in _CHANNEL_OF:
        identity = customers.find_identity(db_session=db_session, channel=_CHANNEL_OF[kind], external_id=value)
        customer = identity and customers.resolve(db_session=db_session, customer_id=identity.customer_id)
        if identity is None or customer is None:
            raise UnknownCustomer(f"customer.{kind}", f"no customer has this {kind}")
        return FoundCustomer(customer.id, identity.id, identity.channel)
    ids = db_session.scalars(select(Customer.id).where(Customer.phone == value)).all()
    survivors = {c.id for c in (customers.resolve(db_session=db_session, customer_id=i) for i in ids) if c is not None}
    if not survivors:
        raise UnknownCustomer("customer.phone", "no customer has this phone number")
    if len(survivors) > 1:
        raise UnknownCustomer(
            "customer.phone", f"{len(survivors)} customers have this phone number; give openid or external_userid"
        )
    return FoundCustomer(survivors.pop(), None, None)


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "order_no": order.order_no,
        "customer_id": order.customer_id,
        "amount": str(Decimal(order.amount).quantize(Decimal("0.01"))),
        "ordered_at": as_utc(order.ordered_at).isoformat(),
        "store_code": order.store_code,
        "guide_code": order.guide_code,
        "credited_guide_id": order.credited_guide_id,
        "points_used": order.points_used,
        "refunded_amount": str(Decimal(order.refunded_amount or 0).quantize(Decimal("0.01"))),
        "created_at": as_utc(order.created_at).isoformat(),
    }


def _by_order_no(db_session: Session, order_no: str) -> Order | None:
    return db_session.scalar(select(Order).where(Order.order_no == order_no))


def _same_or_conflict(db_session: Session, order: Order, order_in: OrderIn) -> Order:
    """The stored order if ``order_in`` says the same; :class:`OrderConflict` otherwise.
    The customer is the same when the reference finds the order's customer (after merges)."""
    stored = {
        "amount": Decimal(order.amount),
        "ordered_at": as_utc(order.ordered_at),
        "store_code": order.store_code,
        "guide_code": order.guide_code,
        "points_used": order.points_used,
    }
    differs = [name for name, value in stored.items() if getattr(order_in, name) != value]
    owner = customers.resolve(db_session=db_session, customer_id=order.customer_id)
    try:
        named = find_customer(db_session=db_session, ref=order_in.customer).customer_id
    except UnknownCustomer:
        named = None
    if owner is None or named != owner.id:
        differs.append("customer")
    if differs:
        raise OrderConflict(order, differs)
    return order
