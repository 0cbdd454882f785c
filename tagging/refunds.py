"""Refunds of orders (``POST /api/orders/<order_no>/refund``, SPEC §11, §13): the refund row,
the order's refunded total, and a ``refund`` entry on the customer's timeline. What a refund
sets off in other domains (a member's points and growth reversed) is
:func:`scrm.flows.refund_order`'s.

A refund is at most what is left unrefunded of the order (else 409 ``over_refund``). Refunds
of one order queue on the order's row (locked first), so two at once cannot both pass.

**The same request retried** changes nothing and answers as the first time (200):

- with ``refund_no`` (the order system's own number of the refund): the order's refund of that
  number. The same number with another amount is 409 ``refund_conflict``.
- without it: a request for the same amount as the order's latest refund, when that one was
  also made without a number and at most :data:`RETRY_WINDOW` ago, is that refund retried.
  Otherwise it is a new refund, numbered ``auto:<refunded before>+<amount>`` (unique: the
  refunded total only grows). So two real refunds of different amounts always both count,
  and so do two of the same amount made more than :data:`RETRY_WINDOW` apart; two refunds of
  the same amount in quick succession must carry their ``refund_no``.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from scrm.clock import as_utc
from scrm.customers.models import Interaction
from scrm.errors import ConflictError, NotFoundError
from tagging.models import Order, OrderRefund
from tagging.schemas import _CONTROL_CHARS, ORDER_NO_MAX_CHARS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tagging.schemas import RefundIn

RETRY_WINDOW = timedelta(minutes=30)
AUTO = "auto:"  # the numbers we give refunds that came without one
CENT = Decimal("0.01")


class OrderNotFound(NotFoundError):
    code = "order_not_found"


class OverRefund(ConflictError):
    """More than what is left unrefunded (409 ``over_refund``, with ``refundable``)."""

    code = "over_refund"


class RefundConflict(ConflictError):
    """The refund_no names a refund of another amount (409 ``refund_conflict``, with ``existing``)."""

    code = "refund_conflict"


@dataclass(frozen=True)
class Refunded:
    order: Order
    refund: OrderRefund
    created: bool  # False: the same request was made before; nothing changed
    before: Decimal  # the order's refunded total before this refund
    after: Decimal  # and after it


def refund_order(*, db_session: Session, order_no: str, refund_in: RefundIn, at: datetime) -> Refunded:
    """Record the refund (or find it again), or :class:`OrderNotFound` / :class:`OverRefund` /
    :class:`RefundConflict` (nothing written)."""
    order = _locked_order(db_session, order_no)
    amount = refund_in.amount
    before = Decimal(order.refunded_amount or 0).quantize(CENT)
    if refund_in.refund_no is not None:
        existing = db_session.scalar(select(OrderRefund).where(OrderRefund.order_id == order.id,
                                                               OrderRefund.refund_no == refund_in.refund_no))
        if existing is not None:
            if Decimal(existing.amount) != amount:
                raise RefundConflict(f"refund {existing.refund_no} of order {order_no} was of "
                                     f"{Decimal(existing.amount).quantize(CENT)}", existing=_refund_json(existing))
            return _again(order, existing)
        refund_no = refund_in.refund_no
    else:
        latest = db_session.scalar(select(OrderRefund).where(OrderRefund.order_id == order.id)
                                   .order_by(OrderRefund.id.desc()).limit(1))
        if (latest is not None and latest.refund_no.startswith(AUTO) and Decimal(latest.amount) == amount
                and as_utc(at) - as_utc(latest.created_at) <= RETRY_WINDOW):
            return _again(order, latest)
        refund_no = f"{AUTO}{before}+{amount}"
    refundable = Decimal(order.amount) - before
    if amount > refundable:
        raise OverRefund(f"order {order_no} has {refundable.quantize(CENT)} left to refund, not {amount}",
                         refundable=str(refundable.quantize(CENT)))
    at = as_utc(at)
    refund = OrderRefund(order_id=order.id, refund_no=refund_no, amount=amount, refunded_at=at, created_at=at)
    db_session.add(refund)
    order.refunded_amount = before + amount
    db_session.flush()
    db_session.add(Interaction(customer_id=order.customer_id, kind="refund", occurred_at=at,
                               dedupe_key=f"refund:{refund.id}",
                               payload={"order_no": order.order_no, "refund_no": refund_no, "amount": str(amount),
                                        "refunded_amount": str(before + amount)}))
    db_session.flush()
    return Refunded(order, refund, True, before, before + amount)


def refund_json(refunded: Refunded) -> dict[str, object]:
    return _refund_json(refunded.refund)


def _refund_json(refund: OrderRefund) -> dict[str, object]:
    return {"refund_no": refund.refund_no, "amount": str(Decimal(refund.amount).quantize(CENT)),
            "refunded_at": as_utc(refund.refunded_at).isoformat()}


def _locked_order(db_session: Session, order_no: str) -> Order:
    """The order, its row locked for this transaction; an order_no no order can have is none."""
    if not 1 <= len(order_no) <= ORDER_NO_MAX_CHARS or _CONTROL_CHARS.search(order_no):
        raise OrderNotFound(f"no order {order_no[:ORDER_NO_MAX_CHARS]!r}")
    order_id = db_session.execute(update(Order).where(Order.order_no == order_no)
                                  .values(refunded_amount=Order.refunded_amount).returning(Order.id)).scalar()
    if order_id is None:
        raise OrderNotFound(f"no order {order_no}")
    return db_session.get(Order, order_id, populate_existing=True)


def _again(order: Order, refund: OrderRefund) -> Refunded:
    total = Decimal(order.refunded_amount or 0).quantize(CENT)
    return Refunded(order, refund, False, total, total)
