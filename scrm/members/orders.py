"""What a member's orders do to their points and growth (SPEC §13), called by
:func:`scrm.flows.record_order` and :func:`scrm.flows.refund_order` inside the order's
transaction.

**Earning.** A new order of a member earns ``floor(amount × points_per_yuan × multiplier)``
points (the multiplier of the level the member holds when the order is recorded: the order
that raises a member is paid at the old level's rate) as one lot, key ``order:<order_no>``.
The lot is frozen for the return window: spendable from ``ordered_at + freeze_days``, and it
expires by ``members.points_expiry`` counted from ``ordered_at`` too — the points are the
purchase's, so an order the brand posts late is not frozen longer than the window it had, and
a backfilled history earns points that are spendable (or expired) as they would have been.
The order also gives ``floor(amount × growth_per_yuan)`` growth (key
``order-growth:<order_no>``), counted from ``ordered_at`` under ``rolling_12_months``; it may
raise the member's level (growth.raise_level; the level-up effects are the caller's).

**Spending.** ``points_used`` of an order are spent oldest lots first (key
``order-spend:<order_no>``); not a member (404 ``not_a_member``) or too few available points
(409 ``not_enough_points``) refuse the whole order.

**Refunds.** A refund that brings the order's refunded total from ``before`` to ``after``
reverses, for each of the order's points earned ``E``, growth ``G`` and points used ``P``,
``round(X × after / amount) − round(X × before / amount)`` (half up): refunds that sum to the
whole order reverse exactly what it gave, whatever the steps. Points are taken back from the
order's own lot first (frozen or not), then the oldest available ones; what the member no
longer has is not taken (the balance never goes below zero). Points used are given back as
new lots, available at once, expiring when the lots they were spent from would: the refund
returns the points spent last first (the newest of the lots the order took). The entries of
a refund have source ``refund`` and the refund's id, so a retried refund reads them back.

Service functions take ``db_session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from scrm.clock import as_utc
from scrm.members import ledger
from scrm.members.growth import LevelChange, add_growth
from scrm.members.models import GrowthEntry, Member, MemberLevel, PointEntry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.config import Config

ORDER_SOURCE = "order"
REFUND_SOURCE = "refund"


@dataclass(frozen=True)
class OrderPoints:
    """What an order meant for a member."""

    customer_id: int
    points: int  # earned, frozen until available_at
    available_at: datetime | None
    growth: int
    points_used: int
    level_change: LevelChange | None  # the level this order raised the member to (new orders only)


@dataclass(frozen=True)
class Reversal:
    """What one refund reversed."""

    points_taken_back: int
    growth_taken_back: int
    points_returned: int


def order_keys(order_no: str) -> tuple[str, str, str]:
    """The idempotency keys of an order's points earned, growth and points spent."""
    return f"order:{order_no}", f"order-growth:{order_no}", f"order-spend:{order_no}"


def spend_for_order(*, db_session: Session, customer_id: int, order_no: str, points: int, at: datetime) -> None:
    """Pay ``points`` of the order with the member's available points (oldest first), or
    :class:`ledger.NotAMember` / :class:`ledger.NotEnoughPoints` (nothing written)."""
    if points <= 0:
        return
    ledger.spend(db_session=db_session, customer_id=customer_id, amount=points, kind="order_spend",
                 source=ORDER_SOURCE, source_id=order_no, key=order_keys(order_no)[2], at=at)


def earn_for_order(
    *, db_session: Session, config: Config, customer_id: int, order_no: str, amount: Decimal, ordered_at: datetime,
    at: datetime,
) -> OrderPoints | None:
    """The points and growth a new order gives the customer; None when they are not a member."""
    if db_session.get(Member, customer_id) is None:
        return None
    member = ledger.lock_member(db_session, customer_id)
    rule = config.members
    level = db_session.get(MemberLevel, member.level_id)
    multiplier = Decimal(str(level.points_multiplier)) if level is not None else Decimal(1)
    points = _floor(amount * Decimal(str(rule.points_per_yuan)) * multiplier)
    growth = _floor(amount * Decimal(str(rule.growth_per_yuan)))
    key, growth_key, _ = order_keys(order_no)
    ordered_at = as_utc(ordered_at)
    available_at = None
    if points > 0:
        posted = ledger.earn(db_session=db_session, config=config, customer_id=customer_id, amount=points,
                             kind="order", source=ORDER_SOURCE, source_id=order_no, key=key, at=at,
                             available_at=ordered_at + timedelta(days=rule.freeze_days),
                             expires_at=ledger.expires_at_for(config, ordered_at))
        available_at = as_utc(posted.entry.available_at)
    change = None
    if growth > 0:
        change = add_growth(db_session=db_session, config=config, customer_id=customer_id, amount=growth,
                            kind="order", source_id=order_no, key=growth_key, at=at,
                            counted_from=ordered_at).level_change
    spent = ledger.entry_by_key(db_session, order_keys(order_no)[2])
    return OrderPoints(customer_id, points, available_at, growth, -spent.amount if spent else 0, change)


def order_points(*, db_session: Session, order_no: str, customer_id: int) -> OrderPoints | None:
    """What an order gave and spent, read back (a retried order answers as the first time);
    None when it touched no membership and its customer is not a member."""
    key, growth_key, spend_key = order_keys(order_no)
    lot, spent = ledger.entry_by_key(db_session, key), ledger.entry_by_key(db_session, spend_key)
    growth = db_session.scalar(select(GrowthEntry).where(GrowthEntry.idempotency_key == growth_key))
    holder = next((row.customer_id for row in (lot, spent, growth) if row is not None), None)
    if holder is None:
        member = db_session.get(Member, customer_id)
        return None if member is None else OrderPoints(customer_id, 0, None, 0, 0, None)
    return OrderPoints(holder, lot.amount if lot else 0, as_utc(lot.available_at) if lot else None,
                       growth.amount if growth else 0, -spent.amount if spent else 0, None)


def reverse_for_refund(
    *, db_session: Session, config: Config, order_no: str, order_amount: Decimal, before: Decimal, after: Decimal,
    refund_id: int, at: datetime,
) -> Reversal:
    """Reverse the share ``before → after`` of the order's points, growth and points used."""
    key, growth_key, spend_key = order_keys(order_no)
    lot, spent = ledger.entry_by_key(db_session, key), ledger.entry_by_key(db_session, spend_key)
    growth = db_session.scalar(select(GrowthEntry).where(GrowthEntry.idempotency_key == growth_key))

    def share(total: int) -> int:
        return _round(Decimal(total) * after / order_amount) - _round(Decimal(total) * before / order_amount)

    taken = taken_growth = returned = 0
    if lot is not None and share(lot.amount) > 0:
        posted = ledger.take_back(db_session=db_session, customer_id=lot.customer_id, amount=share(lot.amount),
                                  lot_id=lot.id, kind="refund_reverse", source=REFUND_SOURCE,
                                  source_id=str(refund_id), key=f"refund-reverse:{refund_id}", at=at)
        taken = -posted.entry.amount if posted is not None else 0
    if growth is not None and share(growth.amount) > 0:
        posted_growth = add_growth(db_session=db_session, config=config, customer_id=growth.customer_id,
                                   amount=-share(growth.amount), kind="refund", source_id=order_no,
                                   key=f"refund-growth:{refund_id}", at=at, counted_from=as_utc(growth.created_at))
        taken_growth = -posted_growth.entry.amount
    if spent is not None:
        returned = _give_back(db_session, config, spent, _round(Decimal(-spent.amount) * before / order_amount),
                              share(-spent.amount), refund_id=refund_id, at=at)
    return Reversal(taken, taken_growth, returned)


def refund_reversal(*, db_session: Session, refund_id: int) -> Reversal:
    """What a refund reversed, read back (a retried refund answers as the first time)."""
    rows = db_session.execute(
        select(PointEntry.kind, func.sum(PointEntry.amount))
        .where(PointEntry.source == REFUND_SOURCE, PointEntry.source_id == str(refund_id)).group_by(PointEntry.kind)
    ).all()
    sums = {kind: int(total) for kind, total in rows}
    growth = db_session.scalar(select(GrowthEntry.amount)
                               .where(GrowthEntry.idempotency_key == f"refund-growth:{refund_id}"))
    return Reversal(-sums.get("refund_reverse", 0), -(growth or 0), sums.get("refund_return", 0))


# -- inside ----------------------------------------------------------------------------------


def _give_back(db_session: Session, config: Config, spent: PointEntry, returned_before: int, amount: int, *,
               refund_id: int, at: datetime) -> int:
    """New lots for ``amount`` points of the spending ``spent``, the points spent last first
    (``returned_before`` of them were given back by earlier refunds), one lot per expiry."""
    if amount <= 0:
        return 0
    newest_first = list(reversed(ledger.allocations_of(db_session, spent.id)))
    by_expiry: dict[datetime | None, int] = {}
    start, end, offset = returned_before, returned_before + amount, 0
    for source_lot, taken in newest_first:
        low, high = max(start, offset), min(end, offset + taken)
        if high > low:
            expires = as_utc(source_lot.expires_at) if source_lot.expires_at is not None else None
            by_expiry[expires] = by_expiry.get(expires, 0) + high - low
        offset += taken
    for index, (expires, points) in enumerate(by_expiry.items()):
        ledger.earn(db_session=db_session, config=config, customer_id=spent.customer_id, amount=points,
                    kind="refund_return", source=REFUND_SOURCE, source_id=str(refund_id),
                    key=f"refund-return:{refund_id}:{index}", at=at, available_at=at, expires_at=expires)
    return sum(by_expiry.values())


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))
